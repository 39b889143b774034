"""The terms that made a query match, from a document's word and key sets (pure, no I/O).

An explainer appends exactly the (term label, field) pairs that the query's evaluator
(`evaluate.compile_query`) appends on the same `DocumentAnalysis`, and returns the same truth
value: every true branch of an OR, all branches of a true AND (in the order written), nothing
from under a NOT; a term reports the first field, in the order title, summary, feed, link,
where it occurs. A one-word term is looked up in the key set of each of its fields
(`DocumentAnalysis.field_keys`) instead of word positions; phrases are checked field by field
(`phrase`); NEAR is screened by the document's keys, then left to its evaluator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeGuard, assert_never

from consumers.matching.analysis import DocumentAnalysis
from consumers.matching.decide import compile_decider
from consumers.matching.evaluate import FIELD_ORDER, Found, compile_query
from consumers.matching.phrase import compile_phrase
from consumers.matching.query import DEFAULT_FIELDS, And, Near, Node, Not, Or, Term, one_word
from consumers.matching.required import Clause, key_of, required_clauses, term_keys

Explainer = Callable[[DocumentAnalysis, Found], bool]


def compile_explainer(node: Node, known: Clause = frozenset()) -> Explainer:
    """The explainer of one query (see the module docstring). `known`: a clause of the
    query's (`required`) that the caller has found to hold, so an AND need not screen it."""
    if isinstance(node, Term):
        if len(node.words) == 1:
            return _one_word(node)
        return compile_phrase(node)
    if isinstance(node, Near):
        return _screened(node, term_keys(node.left) | term_keys(node.right))
    if isinstance(node, Not):
        child = compile_decider(node.child)
        return lambda doc, found: not child(doc)
    if isinstance(node, And | Or):
        if isinstance(node, And) and all(_flat(child) for child in node.children):
            return _words(node.children)
        items = tuple(_item(child) for child in node.children)
        if isinstance(node, Or):
            return _every(items)
        clauses = [clause for clause in required_clauses(node) if clause != known]
        return _all(items, *_screen(clauses))
    assert_never(node)


# A child of an AND or an OR: a one-word term over title and summary as its key and label,
# looked up inline (the commonest child; no call, and few objects to reach in a large
# matcher), or any other child as its explainer.
_Item = tuple[str, str, Explainer | None]


def _item(node: Node) -> _Item:
    if _plain(node):
        return key_of(node.words[0], node.case_sensitive), node.label, None
    return "", "", compile_explainer(node)


def _plain(node: Node) -> TypeGuard[Term]:
    """A one-word term over title and summary."""
    return one_word(node) and node.fields == DEFAULT_FIELDS


def _flat(node: Node) -> bool:
    """A plain term, an OR of them, or NOT one: what `_words` explains in one loop."""
    if isinstance(node, Or):
        return all(map(_plain, node.children))
    return _plain(node.child) if isinstance(node, Not) else _plain(node)


def _words(children: tuple[Node, ...]) -> Explainer:
    """An AND of plain terms, ORs of them and NOTs of a plain term (`(a OR b) NOT c`, the
    commonest AND), in one loop over key and label pairs: the same report as `_all` over
    `_every` and a decider, without the calls and the objects a call reaches (reaching them,
    at 100,000 watchlists, costs more than the lookups). Measured on the real feeds with
    bench/match.py's 100,000 broad watchlists, timing each call: `(a OR b OR c) NOT d` 4.0 ->
    2.6 us, `(a OR b) NOT c` 3.7 -> 2.4, `a NOT b` 2.9 -> 2.1; about 25 such ANDs an article."""
    absent = frozenset(
        key_of(child.child.words[0], child.child.case_sensitive)
        for child in children
        if isinstance(child, Not) and _plain(child.child)
    )
    # Each positive child as the (key, label) of its terms, one of which must be present.
    groups = tuple(
        tuple(
            (key_of(term.words[0], term.case_sensitive), term.label)
            for term in (child.children if isinstance(child, Or) else (child,))
            if isinstance(term, Term)
        )
        for child in children
        if not isinstance(child, Not)
    )

    def explain(doc: DocumentAnalysis, found: Found) -> bool:
        default = doc.default
        if not absent.isdisjoint(default):
            return False
        title, mark = doc.title, len(found)
        for group in groups:
            matched = False
            for key, label in group:
                if key in default:
                    found.append((label, "title" if key in title else "summary"))
                    matched = True
            if not matched:
                del found[mark:]
                return False
        return True

    return explain


def _one_word(term: Term) -> Explainer:
    """The first of the term's fields whose keys hold the term's key."""
    label, key = term.label, key_of(term.words[0], term.case_sensitive)
    if term.fields == DEFAULT_FIELDS:

        def default_fields(doc: DocumentAnalysis, found: Found) -> bool:
            if key in doc.title:
                found.append((label, "title"))
                return True
            if key in doc.summary:
                found.append((label, "summary"))
                return True
            return False

        return default_fields

    fields = tuple(field for field in FIELD_ORDER if field in term.fields)

    def scoped(doc: DocumentAnalysis, found: Found) -> bool:
        for field in fields:
            if key in doc.field_keys[field]:
                found.append((label, field))
                return True
        return False

    return scoped


def _screened(node: Near, keys: frozenset[str]) -> Explainer:
    evaluator = compile_query(node)
    return lambda doc, found: keys <= doc.keys and evaluator.evaluate(doc, found)


def _screen(clauses: list[Clause]) -> tuple[frozenset[str], tuple[Clause, ...]]:
    """The keys a match needs all of, and the sets it needs one key of (`required`)."""
    single = frozenset(key for clause in clauses if len(clause) == 1 for key in clause)
    return single, tuple(clause for clause in set(clauses) if len(clause) > 1)


def _all(items: tuple[_Item, ...], needed: frozenset[str], groups: tuple[Clause, ...]) -> Explainer:
    """Every item, in written order. Screened first: most candidate ANDs lack a key they need
    (`needed`: all of them; `groups`: one of each), found by set tests in C."""

    def explain(doc: DocumentAnalysis, found: Found) -> bool:
        keys = doc.keys
        if not needed <= keys:
            return False
        for group in groups:
            if group.isdisjoint(keys):
                return False
        title, summary, mark = doc.title, doc.summary, len(found)
        for key, label, child in items:
            if child is not None:
                if child(doc, found):
                    continue
            elif key in title:
                found.append((label, "title"))
                continue
            elif key in summary:
                found.append((label, "summary"))
                continue
            del found[mark:]
            return False
        return True

    return explain


def _every(items: tuple[_Item, ...]) -> Explainer:
    def explain(doc: DocumentAnalysis, found: Found) -> bool:
        # No short cut: every true branch contributes its terms to the report.
        title, summary, matched = doc.title, doc.summary, False
        for key, label, child in items:
            if child is not None:
                if child(doc, found):
                    matched = True
            elif key in title:
                found.append((label, "title"))
                matched = True
            elif key in summary:
                found.append((label, "summary"))
                matched = True
        return matched

    return explain
