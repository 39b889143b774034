"""The reference evaluator and matcher: every query against every document, plainly (pure).

This is what the indexed matcher (`matcher.Matcher`) must agree with exactly: same hits,
same terms, same fields. The property tests and bench/match.py's `agree` compare the two.
It is kept apart from the indexed matcher's evaluation (`evaluate`) on purpose: it reads
word positions for every term, tokenises with the plain `text.tokenise`, and evaluates every
compiled query in config order, with none of the key sets, screens and short cuts that make
the indexed path fast, so it stays simple enough to trust. Phrase and NEAR positions come
from `positions`, which the indexed path uses for NEAR as well.

An evaluator answers "does this document match?" over a `DocumentView` and, when it does,
appends a (term label, field) pair for each term that made it true: every true branch of an
OR, all branches of a true AND, nothing from under a NOT. A query that matches only through
NOT (such as `NOT foo`) therefore reports no terms. A term reports the first field, in the
order title, summary, feed, link, where it occurs.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from typing import Protocol, assert_never

from consumers.matching.parse import Concepts, parse_watchlist
from consumers.matching.positions import FieldView, close, starts
from consumers.matching.syntax import FIELD_ORDER, And, Near, Node, Not, Or, Term
from consumers.matching.text import fold, tokenise
from consumers.matching.values import Document, Found, Hit, hit_of


class DocumentView(Protocol):
    def view(self, field: str, case_sensitive: bool) -> FieldView:
        """The words of one field, folded or as written, with their positions."""
        ...

    def words(self, field: str, case_sensitive: bool) -> Container[str]:
        """The stems of one field's words, folded or as written (no positions)."""
        ...


class Evaluator(Protocol):
    def evaluate(self, doc: DocumentView, found: Found) -> bool:
        """True when the document matches; on True, appends (label, field) of contributing terms."""
        ...


class DocumentIndex:
    """A document's views the plain way: each field tokenised, folded and stemmed with the
    functions of `text` on first use, at most once."""

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


class NaiveMatcher:
    """Compiled watchlists, each evaluated for each document, in config order."""

    def __init__(self, compiled: Sequence[tuple[str, Evaluator]]) -> None:
        self._compiled = tuple(compiled)

    @property
    def watchlists(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._compiled)

    def match(self, doc: Document) -> list[Hit]:
        index = DocumentIndex(doc.texts())
        hits = []
        for name, evaluator in self._compiled:
            found: Found = []
            if evaluator.evaluate(index, found):
                hits.append(hit_of(name, found))
        return hits


def compile_naive(
    queries: Sequence[tuple[str, str]], concepts: Concepts | None = None
) -> NaiveMatcher:
    """Parse and compile (name, query) pairs; the first invalid query raises WatchlistError."""
    return NaiveMatcher(
        [(name, compile_query(parse_watchlist(name, text, concepts))) for name, text in queries]
    )


def compile_query(node: Node) -> Evaluator:
    """Turn a syntax tree into its reference evaluator."""
    if isinstance(node, Term):
        if len(node.words) == 1 and node.words[0].kind == "word":
            return _WordEvaluator(node)
        return _TermEvaluator(node)
    if isinstance(node, Near):
        return _NearEvaluator(node)
    if isinstance(node, Not):
        return _NotEvaluator(compile_query(node.child))
    if isinstance(node, And):
        return _AndEvaluator(tuple(compile_query(child) for child in node.children))
    if isinstance(node, Or):
        return _OrEvaluator(tuple(compile_query(child) for child in node.children))
    assert_never(node)


def _ordered(fields: frozenset[str]) -> tuple[str, ...]:
    return tuple(field for field in FIELD_ORDER if field in fields)


class _WordEvaluator:
    """A term of one whole word, the commonest kind: a set lookup per field."""

    __slots__ = ("_case_sensitive", "_fields", "_label", "_text")

    def __init__(self, term: Term) -> None:
        self._label = term.label
        self._text = term.words[0].text
        self._fields = _ordered(term.fields)
        self._case_sensitive = term.case_sensitive

    def evaluate(self, doc: DocumentView, found: Found) -> bool:
        for field in self._fields:
            if self._text in doc.words(field, self._case_sensitive):
                found.append((self._label, field))
                return True
        return False


class _TermEvaluator:
    __slots__ = ("_case_sensitive", "_fields", "_label", "_words")

    def __init__(self, term: Term) -> None:
        self._label = term.label
        self._words = term.words
        self._fields = _ordered(term.fields)
        self._case_sensitive = term.case_sensitive

    def evaluate(self, doc: DocumentView, found: Found) -> bool:
        for field in self._fields:
            view = doc.view(field, self._case_sensitive)
            if self._contained(view):
                found.append((self._label, field))
                return True
        return False

    def _contained(self, view: FieldView) -> bool:
        if len(self._words) == 1:
            return view.contains(self._words[0])
        return bool(starts(view, self._words))


class _NearEvaluator:
    __slots__ = ("_fields", "_near")

    def __init__(self, near: Near) -> None:
        self._near = near
        self._fields = _ordered(near.fields)

    def evaluate(self, doc: DocumentView, found: Found) -> bool:
        near = self._near
        left, right = near.left, near.right
        for field in self._fields:
            lefts = starts(doc.view(field, left.case_sensitive), left.words)
            if not lefts:
                continue
            rights = starts(doc.view(field, right.case_sensitive), right.words)
            if rights and close(lefts, len(left.words), rights, len(right.words), near.distance):
                found.extend(((left.label, field), (right.label, field)))
                return True
        return False


class _NotEvaluator:
    __slots__ = ("_child",)

    def __init__(self, child: Evaluator) -> None:
        self._child = child

    def evaluate(self, doc: DocumentView, found: Found) -> bool:
        return not self._child.evaluate(doc, [])


class _AndEvaluator:
    __slots__ = ("_children",)

    def __init__(self, children: tuple[Evaluator, ...]) -> None:
        self._children = children

    def evaluate(self, doc: DocumentView, found: Found) -> bool:
        mark = len(found)
        for child in self._children:
            if not child.evaluate(doc, found):
                del found[mark:]
                return False
        return True


class _OrEvaluator:
    __slots__ = ("_children",)

    def __init__(self, children: tuple[Evaluator, ...]) -> None:
        self._children = children

    def evaluate(self, doc: DocumentView, found: Found) -> bool:
        # No short cut: every true branch contributes its terms to the report.
        matched = False
        for child in self._children:
            if child.evaluate(doc, found):
                matched = True
        return matched
