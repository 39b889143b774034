"""Word positions of one field, and where phrases start and NEAR spans meet (pure, no I/O).

`FieldView` is what position-based evaluation reads: the reference evaluator for every term,
the indexed matcher's for NEAR only. The reference builds views with the plain functions of
`text` (`reference.DocumentIndex`), the indexed matcher from its own faster analysis
(`document.DocumentAnalysis`); `starts` and `close` are the one implementation of phrase
and NEAR positions that both use.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from consumers.matching.syntax import Word
from consumers.matching.text import is_unspaced, stem

_NONE: tuple[int, ...] = ()


class FieldView:
    """The words of one field in one case mode (folded, or as written for backquoted terms).

    Positions count words from 0; an unspaced run (中国人民银行) is one word. `stems[i]` must
    be `text.stem(forms[i])`; callers that cache stems pass them in.
    """

    __slots__ = ("_forms", "_prefix_keys", "_prefix_positions", "_unspaced", "stems")

    def __init__(self, forms: Sequence[str], stems: Sequence[str] | None = None) -> None:
        self._forms = forms
        self.stems: dict[str, list[int]] = {}
        for position, key in enumerate(stems if stems is not None else map(stem, forms)):
            self.stems.setdefault(key, []).append(position)
        self._unspaced: list[tuple[str, int]] | None = None
        self._prefix_keys: list[str] | None = None
        self._prefix_positions: dict[str, list[int]] = {}

    def contains(self, word: Word) -> bool:
        if word.kind == "word":
            return word.text in self.stems
        if word.kind == "prefix":
            # Only whether some key starts so: the first key not below the prefix tells.
            keys = self._prefix_index()
            index = bisect_left(keys, word.text)
            return index < len(keys) and keys[index].startswith(word.text)
        return bool(self.positions(word))

    def positions(self, word: Word) -> Sequence[int]:
        """Sorted positions where `word` occurs."""
        if word.kind == "word":
            return self.stems.get(word.text, _NONE)
        if word.kind == "substring":
            if self._unspaced is None:
                self._unspaced = [(f, p) for p, f in enumerate(self._forms) if is_unspaced(f)]
            return [position for form, position in self._unspaced if word.text in form]
        return self._prefixed(word.text)

    def _prefix_index(self) -> list[str]:
        """Sorted words and stems of the field; both count, so "city*" finds "cities" (stem
        "city")."""
        if self._prefix_keys is None:
            by_key = self._prefix_positions
            for position, form in enumerate(self._forms):
                by_key.setdefault(form, []).append(position)
            for key, positions in self.stems.items():
                by_key.setdefault(key, []).extend(positions)
            self._prefix_keys = sorted(by_key)
        return self._prefix_keys

    def _prefixed(self, prefix: str) -> Sequence[int]:
        keys = self._prefix_index()
        found: set[int] = set()
        for index in range(bisect_left(keys, prefix), len(keys)):
            if not keys[index].startswith(prefix):
                break
            found.update(self._prefix_positions[keys[index]])
        return sorted(found)


def starts(view: FieldView, words: Sequence[Word]) -> Sequence[int]:
    """Sorted positions where all of `words` begin, in order and adjacent."""
    found = view.positions(words[0])
    for offset, word in enumerate(words[1:], start=1):
        if not found:
            break
        following = set(view.positions(word))
        found = [start for start in found if start + offset in following]
    return found


def close(
    lefts: Sequence[int], left_length: int, rights: Sequence[int], right_length: int, distance: int
) -> bool:
    """Some right span starts within `distance` words after a left span ends, or ends within
    `distance` words before it starts; spans may not overlap. `rights` is sorted."""
    for start in lefts:
        end = start + left_length - 1
        after = bisect_left(rights, end + 1)
        if after < len(rights) and rights[after] <= end + distance:
            return True
        before_low = start - distance - right_length + 1
        before = bisect_left(rights, before_low)
        if before < len(rights) and rights[before] <= start - right_length:
            return True
    return False
