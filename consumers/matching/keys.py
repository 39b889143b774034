"""Which index keys one word of a document yields (pure, no I/O).

The index keys (`required.key_of`) of a document are those of its words: a word's stem, each
wildcard prefix that the word or its stem starts with, each unspaced substring it contains.
A `KeyFinder` knows the keys some compiled query names and answers, per word, which of them
the word yields; the answers are memoised, so for the words news repeats every day a
document's keys cost one dict lookup per word, done in C by `map`.
"""

from __future__ import annotations

from collections.abc import Iterable

from consumers.matching.analysis import Lexicon, Memo
from consumers.matching.text import is_unspaced

CASE_MARK = "`"
PREFIX_MARK = "*"
SUBSTRING_MARK = "~"
_NONE: tuple[str, ...] = ()


class KeyFinder:
    """The keys among `keys` that a word yields, in one case mode (folded words, or words as
    written for the keys of backquoted terms, which start with CASE_MARK)."""

    __slots__ = (
        "_heads",
        "_lengths",
        "_lexicon",
        "_mark",
        "_prefixes",
        "_stems",
        "_substrings",
        "of",
    )

    def __init__(self, keys: Iterable[str], case_sensitive: bool, lexicon: Lexicon) -> None:
        self._mark = CASE_MARK if case_sensitive else ""
        skip = len(self._mark)
        bodies = [key[skip:] for key in keys if key.startswith(CASE_MARK) == case_sensitive]
        self._lexicon = lexicon
        self._stems = frozenset(
            b for b in bodies if not b.startswith((PREFIX_MARK, SUBSTRING_MARK))
        )
        self._prefixes = frozenset(b[1:] for b in bodies if b.startswith(PREFIX_MARK))
        self._substrings = frozenset(b[1:] for b in bodies if b.startswith(SUBSTRING_MARK))
        # Every leading part of every prefix, so the walk along a word stops at the first miss.
        self._heads = frozenset(p[:i] for p in self._prefixes for i in range(1, len(p) + 1))
        self._lengths = tuple(sorted({len(s) for s in self._substrings}))
        self.of: Memo[tuple[str, ...]] = Memo(self._find)

    def __bool__(self) -> bool:
        return bool(self._stems or self._prefixes or self._substrings)

    def _find(self, word: str) -> tuple[str, ...]:
        mark = self._mark
        stem = self._lexicon.stem[word]
        found = [mark + stem] if stem in self._stems else []
        if self._heads:
            for form in {word, stem}:
                for end in range(1, len(form) + 1):
                    head = form[:end]
                    if head not in self._heads:
                        break
                    if head in self._prefixes:
                        found.append(mark + PREFIX_MARK + head)
        if self._lengths and is_unspaced(word):
            for length in self._lengths:
                for start in range(len(word) - length + 1):
                    piece = word[start : start + length]
                    if piece in self._substrings:
                        found.append(mark + SUBSTRING_MARK + piece)
        return tuple(found) if found else _NONE
