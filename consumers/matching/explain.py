"""The terms that made a query match, from a document's word and key sets (pure, no I/O).

An explainer appends exactly the (term label, field) pairs that the query's evaluator
(`evaluate.compile_query`) appends on the same `DocumentAnalysis`, and returns the same truth
value: every true branch of an OR, all branches of a true AND (in the order written), nothing
from under a NOT; a term reports the first field, in the order title, summary, feed, link,
where it occurs. A one-word term is looked up in the key set of each of its fields
(`DocumentAnalysis.field_keys`) instead of word positions; phrases and NEAR are screened by
the document's keys, then left to their evaluator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import assert_never

from consumers.matching.analysis import DocumentAnalysis
from consumers.matching.decide import compile_decider, term_keys
from consumers.matching.evaluate import FIELD_ORDER, Found, compile_query
from consumers.matching.query import DEFAULT_FIELDS, And, Near, Node, Not, Or, Term
from consumers.matching.required import key_of

Explainer = Callable[[DocumentAnalysis, Found], bool]


def compile_explainer(node: Node) -> Explainer:
    """The explainer of one query (see the module docstring)."""
    if isinstance(node, Term):
        if len(node.words) == 1:
            return _one_word(node)
        return _screened(node, term_keys(node))
    if isinstance(node, Near):
        return _screened(node, term_keys(node.left) | term_keys(node.right))
    if isinstance(node, Not):
        child = compile_decider(node.child)
        return lambda doc, found: not child(doc)
    if isinstance(node, And | Or):
        specs = [_default_word(child) for child in node.children]
        if all(specs):  # the commonest groups, looked up in one loop without inner calls
            plain = tuple(spec for spec in specs if spec)
            return _all_words(plain) if isinstance(node, And) else _every_word(plain)
        children = tuple(compile_explainer(child) for child in node.children)
        return _all(children) if isinstance(node, And) else _every(children)
    assert_never(node)


# A one-word term over title and summary: its key, and what it reports from either field.
_WordSpec = tuple[str, tuple[str, str], tuple[str, str]]


def _default_word(node: Node) -> _WordSpec | None:
    if isinstance(node, Term) and len(node.words) == 1 and node.fields == DEFAULT_FIELDS:
        key = key_of(node.words[0], node.case_sensitive)
        return key, (node.label, "title"), (node.label, "summary")
    return None


def _all_words(specs: tuple[_WordSpec, ...]) -> Explainer:
    def explain(doc: DocumentAnalysis, found: Found) -> bool:
        title, summary, mark = doc.title, doc.summary, len(found)
        for key, in_title, in_summary in specs:
            if key in title:
                found.append(in_title)
            elif key in summary:
                found.append(in_summary)
            else:
                del found[mark:]
                return False
        return True

    return explain


def _every_word(specs: tuple[_WordSpec, ...]) -> Explainer:
    def explain(doc: DocumentAnalysis, found: Found) -> bool:
        title, summary, mark = doc.title, doc.summary, len(found)
        for key, in_title, in_summary in specs:
            if key in title:
                found.append(in_title)
            elif key in summary:
                found.append(in_summary)
        return len(found) > mark

    return explain


def _one_word(term: Term) -> Explainer:
    """The first of the term's fields whose keys hold the term's key."""
    spec = _default_word(term)
    if spec is not None:
        return _all_words((spec,))
    label, key = term.label, key_of(term.words[0], term.case_sensitive)

    fields = tuple(field for field in FIELD_ORDER if field in term.fields)

    def scoped(doc: DocumentAnalysis, found: Found) -> bool:
        for field in fields:
            if key in doc.field_keys[field]:
                found.append((label, field))
                return True
        return False

    return scoped


def _screened(node: Term | Near, keys: frozenset[str]) -> Explainer:
    evaluator = compile_query(node)
    return lambda doc, found: keys <= doc.keys and evaluator.evaluate(doc, found)


def _all(children: tuple[Explainer, ...]) -> Explainer:
    def explain(doc: DocumentAnalysis, found: Found) -> bool:
        mark = len(found)
        for child in children:
            if not child(doc, found):
                del found[mark:]
                return False
        return True

    return explain


def _every(children: tuple[Explainer, ...]) -> Explainer:
    def explain(doc: DocumentAnalysis, found: Found) -> bool:
        # No short cut: every true branch contributes its terms to the report.
        matched = False
        for child in children:
            if child(doc, found):
                matched = True
        return matched

    return explain
