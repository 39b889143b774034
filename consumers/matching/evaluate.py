"""Compiled query trees: one small evaluator per node (pure, no I/O).

An evaluator answers "does this document match?" over a `DocumentView` and, when it does,
appends a (term label, field) pair for each term that made it true: every true branch of an
OR, all branches of a true AND, nothing from under a NOT. A query that matches only through
NOT (such as `NOT foo`) therefore reports no terms. A term reports the first field, in the
order title, summary, feed, link, where it occurs.

The naive reference matcher runs these evaluators for every query. The indexed matcher runs
them only for phrases and NEAR; everything else it answers from key sets with deciders and
explainers (`decide`, `explain`) that must agree with these evaluators exactly, which the
property tests check by comparing the two matchers.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Container, Sequence
from typing import Protocol, assert_never

from consumers.matching.index import FieldView
from consumers.matching.query import And, Near, Node, Not, Or, Term

# A stable field order, so evaluation (and the first field found) does not depend on hashing.
FIELD_ORDER = ("title", "summary", "feed", "link")

Found = list[tuple[str, str]]


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


def compile_query(node: Node) -> Evaluator:
    """Turn a syntax tree into its evaluator."""
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
    __slots__ = ("_case_sensitive", "_fields", "_label", "_words", "length")

    def __init__(self, term: Term) -> None:
        self._label = term.label
        self._words = term.words
        self._fields = _ordered(term.fields)
        self._case_sensitive = term.case_sensitive
        self.length = len(term.words)

    def evaluate(self, doc: DocumentView, found: Found) -> bool:
        for field in self._fields:
            view = doc.view(field, self._case_sensitive)
            if self._contained(view):
                found.append((self._label, field))
                return True
        return False

    def _contained(self, view: FieldView) -> bool:
        if self.length == 1:
            return view.contains(self._words[0])
        return bool(self.starts(view))

    def starts(self, view: FieldView) -> Sequence[int]:
        """Sorted positions where the whole term (all its words, in order) begins."""
        starts = view.positions(self._words[0])
        for offset, word in enumerate(self._words[1:], start=1):
            if not starts:
                break
            following = set(view.positions(word))
            starts = [start for start in starts if start + offset in following]
        return starts

    def view(self, doc: DocumentView, field: str) -> FieldView:
        return doc.view(field, self._case_sensitive)


class _NearEvaluator:
    __slots__ = ("_distance", "_fields", "_labels", "_left", "_right")

    def __init__(self, near: Near) -> None:
        self._left = _TermEvaluator(near.left)
        self._right = _TermEvaluator(near.right)
        self._distance = near.distance
        self._fields = _ordered(near.fields)
        self._labels = (near.left.label, near.right.label)

    def evaluate(self, doc: DocumentView, found: Found) -> bool:
        for field in self._fields:
            lefts = self._left.starts(self._left.view(doc, field))
            if not lefts:
                continue
            rights = self._right.starts(self._right.view(doc, field))
            if rights and self._close(lefts, rights):
                found.extend((label, field) for label in self._labels)
                return True
        return False

    def _close(self, lefts: Sequence[int], rights: Sequence[int]) -> bool:
        """Some right span starts within `distance` words after a left span ends, or ends
        within `distance` words before it starts; spans may not overlap."""
        left_length, right_length, distance = self._left.length, self._right.length, self._distance
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
