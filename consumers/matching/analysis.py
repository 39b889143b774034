"""A document's words, computed once per article for the indexed matcher (pure, no I/O).

It yields exactly the words, folded forms and stems that `index.DocumentIndex` computes with
the plain functions of `text`, only faster: `text.tokenise_fast` splits, ASCII text is folded
whole with str.lower (the same as folding each word), and folded forms and stems of other
words come from a `Lexicon`, a cache that news vocabulary keeps warm and that is read with
`map` over a dict, so a known word costs no Python-level call at all.

What queries need most, the set of stems of a field, is built eagerly for title and summary
(`title`, `summary`, and their union `default`); everything else (other fields, words as
written for backquoted terms, word positions for phrases, NEAR and wildcards) on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from consumers.matching.hits import Document
from consumers.matching.index import FieldView
from consumers.matching.text import fold, stem, tokenise_fast

# Distinct words remembered per cache before it starts over: a few MB, far beyond the
# vocabulary of a day of news, and a bound should someone feed in random strings.
LEXICON_LIMIT = 200_000
MEMO_WORD_LENGTH = 40

V = TypeVar("V")


class Memo(dict[str, V]):
    """`function(word)` per word, computed on a miss. `memo[word]` and `map(memo.__getitem__,
    words)` run in C for known words; past LEXICON_LIMIT entries the memo starts over."""

    __slots__ = ("_function",)

    def __init__(self, function: Callable[[str], V]) -> None:
        super().__init__()
        self._function = function

    def __missing__(self, word: str) -> V:
        value = self._function(word)
        # Long words (an unspaced run can be a whole sentence) rarely come back: not kept.
        if len(word) <= MEMO_WORD_LENGTH:
            if len(self) >= LEXICON_LIMIT:
                self.clear()
            self[word] = value
        return value


class Lexicon:
    """Caches of `text.fold` and `text.stem` per word. Shared by one matcher's documents."""

    __slots__ = ("fold", "stem")

    def __init__(self) -> None:
        self.fold: Memo[str] = Memo(fold)
        self.stem: Memo[str] = Memo(stem)


def _text(doc: Document, field: str) -> str:
    if field == "title":
        return doc.title
    if field == "summary":
        return doc.summary
    if field == "feed":
        return doc.feed
    return doc.link if field == "link" else ""


class DocumentAnalysis:
    """Words of each field, folded or as written, with their stems; each computed on first use,
    except the folded stems of title and summary, which every document needs.

    Implements the evaluators' `DocumentView`, so candidate queries run on the same analysis
    that selected them.
    """

    __slots__ = (
        "_doc",
        "_forms",
        "_lexicon",
        "_sets",
        "_views",
        "default",
        "field_keys",
        "keys",
        "summary",
        "title",
    )

    def __init__(self, doc: Document, lexicon: Lexicon, exact: bool = False) -> None:
        """`exact`: the caller will also read words as written (backquoted terms), so each
        field is split once and folded word by word rather than split twice."""
        self._doc = doc
        # Index keys (`required.key_of`) of the document, filled in by the matcher: every key
        # that some compiled query names and that a word of a field some query reads yields.
        self.keys: set[str] = set()
        self.field_keys: dict[str, set[str]] = {}  # the same, per field
        self._lexicon = lexicon
        self._forms: dict[tuple[str, bool], list[str]] = {}
        self._views: dict[tuple[str, bool], FieldView] = {}
        stems = lexicon.stem.__getitem__
        if exact:
            self.forms("title", True)
            self.forms("summary", True)
        self.title: set[str] = set(map(stems, self.forms("title", False)))
        self.summary: set[str] = set(map(stems, self.forms("summary", False)))
        self.default = self.title | self.summary
        self._sets: dict[tuple[str, bool], set[str]] = {
            ("title", False): self.title,
            ("summary", False): self.summary,
        }

    def forms(self, field: str, case_sensitive: bool) -> list[str]:
        """The field's words, folded unless `case_sensitive`."""
        key = (field, case_sensitive)
        forms = self._forms.get(key)
        if forms is None:
            if case_sensitive:
                forms = tokenise_fast(_text(self._doc, field))
            elif (field, True) in self._forms:
                forms = list(map(self._lexicon.fold.__getitem__, self._forms[field, True]))
            else:
                text = _text(self._doc, field)
                if text.isascii():
                    forms = tokenise_fast(text.lower())
                else:
                    forms = list(map(self._lexicon.fold.__getitem__, tokenise_fast(text)))
            self._forms[key] = forms
        return forms

    def words(self, field: str, case_sensitive: bool) -> set[str]:
        """The stems of the field's words (`text.stem` of each of `forms`)."""
        key = (field, case_sensitive)
        found = self._sets.get(key)
        if found is None:
            stems = self._lexicon.stem.__getitem__
            found = self._sets[key] = set(map(stems, self.forms(field, case_sensitive)))
        return found

    def view(self, field: str, case_sensitive: bool) -> FieldView:
        key = (field, case_sensitive)
        view = self._views.get(key)
        if view is None:
            forms = self.forms(field, case_sensitive)
            view = FieldView(forms, list(map(self._lexicon.stem.__getitem__, forms)))
            self._views[key] = view
        return view
