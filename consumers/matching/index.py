"""One document's words, looked up by the compiled queries (pure, no I/O).

`FieldView` is what evaluators read. `DocumentIndex` is the straightforward way to build views
(tokenise, fold and stem each field on first use, with the functions of `text`); the indexed
matcher builds the same views from its own faster analysis (`analysis.DocumentAnalysis`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Container, Mapping, Sequence

from consumers.matching.query import Word
from consumers.matching.text import fold, is_unspaced, stem, tokenise

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


class DocumentIndex:
    """Fields are tokenised on first use and at most once; views are built on first use."""

    __slots__ = ("_texts", "_views", "_words")

    def __init__(self, texts: Mapping[str, str]) -> None:
        self._texts = texts
        self._words: dict[str, list[str]] = {}
        self._views: dict[tuple[str, bool], FieldView] = {}

    def words(self, field: str, case_sensitive: bool) -> Container[str]:
        return self.view(field, case_sensitive).stems

    def view(self, field: str, case_sensitive: bool) -> FieldView:
        key = (field, case_sensitive)
        view = self._views.get(key)
        if view is None:
            words = self._words.get(field)
            if words is None:
                words = self._words[field] = tokenise(self._texts.get(field, ""))
            view = FieldView(words if case_sensitive else [fold(word) for word in words])
            self._views[key] = view
        return view
