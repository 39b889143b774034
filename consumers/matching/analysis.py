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
from typing import Any

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
        # iterator of each (about 0.15 us an article of 45 words).
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
            # commonest caller, needs no folded forms. Measured on the real feeds with
            # bench/match.py's 1,000 watchlists, timing each call: a plain phrase explained
            # 7.0 -> 5.6 us broad, 7.6 -> 4.6 selective (most of it this list, built once).
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
