"""A document analysed for the indexed matcher: its words and index keys (pure, no I/O).

`DocumentAnalysis` splits title, summary and each other field some query reads once
(`text.tokenise_fast`) and reads the fields' index keys off the words with a `KeyFinder`:
that is all most documents need, since the evaluators of `evaluate` look one-word terms up in
those key sets. Folded forms, stems and word positions, which phrases and NEAR need, are
derived from the same words on first use; they are exactly what the reference
(`reference.DocumentIndex`) computes with the plain functions of `text`.

The index keys (`query_keys.key_of`) a word yields are: the stem of its folded form; each
wildcard prefix that the folded form or that stem starts with; each unspaced substring the
folded form contains; and the same three for the word as written, marked with a backquote,
for backquoted terms. A `KeyFinder` knows the keys that some compiled query names and
answers, per word as written, which of them the word yields. The answers are memoised: for
the words news repeats every day, a field's keys cost one dict lookup per word, run in C by
`map` (`set(chain.from_iterable(map(finder.of.__getitem__, words)))`), with no folding,
stemming or Python-level call per word.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from itertools import chain
from typing import Any, TypeVar

from consumers.matching.positions import FieldView
from consumers.matching.text import fold, is_unspaced, stem, tokenise_fast
from consumers.matching.values import Document

CASE_MARK = "`"
PREFIX_MARK = "*"
SUBSTRING_MARK = "~"
# Distinct words remembered per memo before it starts over: a few tens of MB at most, far
# beyond the vocabulary of a day of news, and a bound should someone feed in random strings.
MEMO_LIMIT = 200_000
# Longer words (an unspaced run can be a whole sentence) rarely come back: not remembered.
MEMO_WORD_LENGTH = 40
_NONE: tuple[str, ...] = ()

V = TypeVar("V")


class Memo(dict[str, V]):
    """`function(word)` per word, computed on a miss. `memo[word]` and `map(memo.__getitem__,
    words)` run in C for known words."""

    __slots__ = ("_function",)

    def __init__(self, function: Callable[[str], V]) -> None:
        super().__init__()
        self._function = function

    def __missing__(self, word: str) -> V:
        value = self._function(word)
        if len(word) <= MEMO_WORD_LENGTH:
            if len(self) >= MEMO_LIMIT:
                self.clear()
            self[word] = value
        return value


class Lexicon:
    """Memos of `text.fold`, `text.stem` and the two in turn. Shared by one matcher's
    documents."""

    __slots__ = ("fold", "folded_stem", "stem")

    def __init__(self) -> None:
        self.fold: Memo[str] = Memo(fold)
        self.stem: Memo[str] = Memo(stem)
        # A phrase's explainer reads a field's stems only: one lookup per word rather than
        # a fold, a list of forms and a stem (see `DocumentAnalysis.stems`).
        self.folded_stem: Memo[str] = Memo(_folded_stem)


def _folded_stem(word: str) -> str:
    return stem(fold(word))


class _Kinds:
    """The keys of one case mode, without their case mark, by kind."""

    __slots__ = ("heads", "lengths", "prefixes", "stems", "substrings")

    def __init__(self, bodies: list[str]) -> None:
        self.stems = frozenset(b for b in bodies if not b.startswith((PREFIX_MARK, SUBSTRING_MARK)))
        self.prefixes = frozenset(b[1:] for b in bodies if b.startswith(PREFIX_MARK))
        self.substrings = frozenset(b[1:] for b in bodies if b.startswith(SUBSTRING_MARK))
        # Every leading part of every prefix, so the walk along a word stops at the first miss.
        self.heads = frozenset(p[:i] for p in self.prefixes for i in range(1, len(p) + 1))
        self.lengths = tuple(sorted({len(s) for s in self.substrings}))

    def find(self, form: str, stemmed: str, mark: str, found: list[str]) -> None:
        if stemmed in self.stems:
            found.append(mark + stemmed)
        if self.heads:
            for word in {form, stemmed}:
                for end in range(1, len(word) + 1):
                    head = word[:end]
                    if head not in self.heads:
                        break
                    if head in self.prefixes:
                        found.append(mark + PREFIX_MARK + head)
        if self.lengths and is_unspaced(form):
            for length in self.lengths:
                for start in range(len(form) - length + 1):
                    piece = form[start : start + length]
                    if piece in self.substrings:
                        found.append(mark + SUBSTRING_MARK + piece)


class KeyFinder:
    """The keys among `keys` that a word (as written) yields, in both case modes: `of[word]`."""

    __slots__ = ("of",)

    def __init__(self, keys: Iterable[str], lexicon: Lexicon) -> None:
        keys = list(keys)
        folded = _Kinds([k for k in keys if not k.startswith(CASE_MARK)])
        exact = _Kinds([k[1:] for k in keys if k.startswith(CASE_MARK)])
        # A partial, not a bound method: the memo must not refer back to its finder. Such a
        # cycle, frozen out of the collector with a large matcher (as the service does:
        # `consumers.gc_policy`), would never be freed, and every reload would leak the memo.
        self.of: Memo[tuple[str, ...]] = Memo(partial(_find, folded, exact, lexicon))


def _find(folded: _Kinds, exact: _Kinds, lexicon: Lexicon, word: str) -> tuple[str, ...]:
    found: list[str] = []
    form = lexicon.fold[word]
    folded.find(form, lexicon.stem[form], "", found)
    if exact.stems or exact.heads or exact.lengths:
        exact.find(word, lexicon.stem[word], CASE_MARK, found)
    return tuple(found) if found else _NONE


def _text(doc: Document, field: str) -> str:
    if field == "title":
        return doc.title
    if field == "summary":
        return doc.summary
    if field == "feed":
        return doc.feed
    return doc.link if field == "link" else ""


class DocumentAnalysis:
    """The index keys of each field read, eagerly; words, stems and positions on first use.

    `field_keys[field]`: the keys (`query_keys.key_of`, both case modes) that the field's words
    yield among those `finder` knows, for title, summary and each of `fields`; `title` and
    `summary` are two of them, `default` their union, `keys` the union of them all.
    Implements the evaluators' `DocumentView`, so candidate queries run on the same analysis
    that selected them.
    """

    __slots__ = (
        "_derived",
        "_doc",
        "_lexicon",
        "default",
        "field_keys",
        "keys",
        "summary",
        "title",
    )

    def __init__(
        self, doc: Document, lexicon: Lexicon, finder: KeyFinder, fields: Iterable[str]
    ) -> None:
        self._doc = doc
        self._lexicon = lexicon
        keys_of = finder.of.__getitem__
        title_words = tokenise_fast(doc.title)
        summary_words = tokenise_fast(doc.summary)
        # Words as written, then (on first use) folded forms, stems, stem sets and views, per
        # (kind, field, case_sensitive): one dict, as most documents need nothing more.
        self._derived: dict[tuple[str, str, bool], Any] = {
            ("forms", "title", True): title_words,
            ("forms", "summary", True): summary_words,
        }
        # Title and summary are split in any case (a query with no field reads both). Most
        # words yield no key: `filter` drops their empty tuples before `chain` makes an
        # iterator of each (cheaper than chaining them; bench/RESULTS.md).
        self.title = set(chain.from_iterable(filter(None, map(keys_of, title_words))))
        self.summary = set(chain.from_iterable(filter(None, map(keys_of, summary_words))))
        self.default = self.keys = self.title | self.summary
        self.field_keys = {"title": self.title, "summary": self.summary}
        for field in fields:
            if field not in self.field_keys:
                written = self._derived["forms", field, True] = tokenise_fast(_text(doc, field))
                self.field_keys[field] = found = set(chain.from_iterable(map(keys_of, written)))
                self.keys = self.keys | found

    def forms(self, field: str, case_sensitive: bool) -> list[str]:
        """The field's words, folded unless `case_sensitive`."""
        key = ("forms", field, case_sensitive)
        forms: list[str] | None = self._derived.get(key)
        if forms is None:
            if case_sensitive:
                forms = tokenise_fast(_text(self._doc, field))
            else:
                forms = list(map(self._lexicon.fold.__getitem__, self.forms(field, True)))
            self._derived[key] = forms
        return forms

    def stems(self, field: str, case_sensitive: bool) -> list[str]:
        """`text.stem` of each of `forms`, in order."""
        key = ("stems", field, case_sensitive)
        stems: list[str] | None = self._derived.get(key)
        if stems is None:
            # The folded stems straight from the words as written: a plain phrase, the
            # commonest caller, needs no folded forms (measured faster: bench/RESULTS.md).
            lexicon = self._lexicon
            memo = lexicon.stem if case_sensitive else lexicon.folded_stem
            stems = list(map(memo.__getitem__, self.forms(field, True)))
            self._derived[key] = stems
        return stems

    def words(self, field: str, case_sensitive: bool) -> set[str]:
        """The stems of the field's words, as a set."""
        key = ("words", field, case_sensitive)
        found: set[str] | None = self._derived.get(key)
        if found is None:
            found = self._derived[key] = set(self.stems(field, case_sensitive))
        return found

    def view(self, field: str, case_sensitive: bool) -> FieldView:
        key = ("view", field, case_sensitive)
        view: FieldView | None = self._derived.get(key)
        if view is None:
            forms = self.forms(field, case_sensitive)
            view = self._derived[key] = FieldView(forms, self.stems(field, case_sensitive))
        return view
