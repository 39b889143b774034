"""A document's words, computed once per article for the indexed matcher (pure, no I/O).

It yields exactly the words, folded forms and stems that `index.DocumentIndex` computes with
the plain functions of `text`, only faster: `text.tokenise_fast` splits, ASCII text is folded
whole with str.lower (the same as folding each word), and folded forms and stems of other
words come from a `Lexicon`, a cache that news vocabulary keeps warm.
"""

from __future__ import annotations

from collections.abc import Mapping

from consumers.matching.index import FieldView
from consumers.matching.text import fold, stem, tokenise_fast

# Distinct words remembered per cache before it starts over: a few MB, far beyond the
# vocabulary of a day of news, and a bound should someone feed in random strings.
LEXICON_LIMIT = 200_000


class Lexicon:
    """Caches of `text.fold` and `text.stem` per word. Shared by one matcher's documents."""

    __slots__ = ("_folds", "_stems")

    def __init__(self) -> None:
        self._folds: dict[str, str] = {}
        self._stems: dict[str, str] = {}

    def fold_all(self, words: list[str]) -> list[str]:
        folds = self._folds
        out = []
        for word in words:
            folded = folds.get(word)
            if folded is None:
                if len(folds) >= LEXICON_LIMIT:
                    folds.clear()
                folded = folds[word] = fold(word)
            out.append(folded)
        return out

    def stem_all(self, words: list[str]) -> list[str]:
        stems = self._stems
        out = []
        for word in words:
            stemmed = stems.get(word)
            if stemmed is None:
                if len(stems) >= LEXICON_LIMIT:
                    stems.clear()
                stemmed = stems[word] = stem(word)
            out.append(stemmed)
        return out


class DocumentAnalysis:
    """Words of each field, folded or as written, with their stems; each computed on first use.

    Implements the evaluators' `DocumentView`, so candidate queries run on the same analysis
    that selected them.
    """

    __slots__ = ("_exact_views", "_forms", "_lexicon", "_stems", "_texts", "_views")

    def __init__(self, texts: Mapping[str, str], lexicon: Lexicon) -> None:
        self._texts = texts
        self._lexicon = lexicon
        self._forms: dict[tuple[str, bool], list[str]] = {}
        self._stems: dict[tuple[str, bool], list[str]] = {}
        self._views: dict[str, FieldView] = {}
        self._exact_views: dict[str, FieldView] = {}

    def forms(self, field: str, case_sensitive: bool) -> list[str]:
        """The field's words, folded unless `case_sensitive`."""
        key = (field, case_sensitive)
        forms = self._forms.get(key)
        if forms is None:
            text = self._texts.get(field, "")
            if case_sensitive:
                forms = tokenise_fast(text)
            elif text.isascii():
                forms = tokenise_fast(text.lower())
            else:
                forms = self._lexicon.fold_all(tokenise_fast(text))
            self._forms[key] = forms
        return forms

    def stems(self, field: str, case_sensitive: bool) -> list[str]:
        """`text.stem` of each of `forms(field, case_sensitive)`."""
        key = (field, case_sensitive)
        stems = self._stems.get(key)
        if stems is None:
            stems = self._stems[key] = self._lexicon.stem_all(self.forms(field, case_sensitive))
        return stems

    def view(self, field: str, case_sensitive: bool) -> FieldView:
        # Called for every term of every candidate: one dict lookup on the hot path.
        views = self._exact_views if case_sensitive else self._views
        view = views.get(field)
        if view is None:
            view = FieldView(self.forms(field, case_sensitive), self.stems(field, case_sensitive))
            views[field] = view
        return view
