"""A document's words and index keys, computed once per article for the indexed matcher
(pure, no I/O).

Title, summary and each other field some query reads are split once
(`text.tokenise_fast`), and their index keys are
read off the words with a `keys.KeyFinder`: that is all most documents need, since deciders
and explainers look one-word terms up in those key sets. Folded forms, stems and word
positions, which phrases and NEAR need, are derived from the same words on first use; they
are exactly what `index.DocumentIndex` computes with the plain functions of `text`.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain

from consumers.matching.hits import Document
from consumers.matching.index import FieldView
from consumers.matching.keys import KeyFinder, Lexicon
from consumers.matching.text import tokenise_fast


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

    `field_keys[field]`: the keys (`required.key_of`, both case modes) that the field's words
    yield among those `finder` knows, for title, summary and each of `fields`; `title` and
    `summary` are two of them, `default` their union, `keys` the union of them all. Implements the evaluators' `DocumentView`,
    so candidate queries run on the same analysis that selected them.
    """

    __slots__ = (
        "_doc",
        "_forms",
        "_lexicon",
        "_stems",
        "_views",
        "_words",
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
        self._forms: dict[tuple[str, bool], list[str]] = {
            ("title", True): title_words,
            ("summary", True): summary_words,
        }
        self._words: dict[tuple[str, bool], set[str]] = {}
        self._stems: dict[tuple[str, bool], list[str]] = {}
        self._views: dict[tuple[str, bool], FieldView] = {}
        # Title and summary are split in any case (a query with no field reads both).
        self.title = set(chain.from_iterable(map(keys_of, title_words)))
        self.summary = set(chain.from_iterable(map(keys_of, summary_words)))
        self.default = self.title | self.summary
        self.keys = self.default
        self.field_keys = {"title": self.title, "summary": self.summary}
        for field in fields:
            if field not in self.field_keys:
                written = self._forms[field, True] = tokenise_fast(_text(doc, field))
                self.field_keys[field] = found = set(chain.from_iterable(map(keys_of, written)))
                self.keys = self.keys | found

    def forms(self, field: str, case_sensitive: bool) -> list[str]:
        """The field's words, folded unless `case_sensitive`."""
        key = (field, case_sensitive)
        forms = self._forms.get(key)
        if forms is None:
            if case_sensitive:
                forms = tokenise_fast(_text(self._doc, field))
            else:
                forms = list(map(self._lexicon.fold.__getitem__, self.forms(field, True)))
            self._forms[key] = forms
        return forms

    def words(self, field: str, case_sensitive: bool) -> set[str]:
        """The stems of the field's words (`text.stem` of each of `forms`)."""
        key = (field, case_sensitive)
        found = self._words.get(key)
        if found is None:
            stems = self._lexicon.stem.__getitem__
            found = self._words[key] = set(map(stems, self.forms(field, case_sensitive)))
        return found

    def stems(self, field: str, case_sensitive: bool) -> list[str]:
        """`text.stem` of each of `forms`, in order."""
        key = (field, case_sensitive)
        stems = self._stems.get(key)
        if stems is None:
            forms = self.forms(field, case_sensitive)
            stems = self._stems[key] = list(map(self._lexicon.stem.__getitem__, forms))
        return stems

    def view(self, field: str, case_sensitive: bool) -> FieldView:
        key = (field, case_sensitive)
        view = self._views.get(key)
        if view is None:
            forms = self.forms(field, case_sensitive)
            view = self._views[key] = FieldView(forms, self.stems(field, case_sensitive))
        return view
