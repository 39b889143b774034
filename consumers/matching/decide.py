"""Yes-or-no answers for compiled queries, from a document's key sets (pure, no I/O).

A decider returns exactly the truth value that the query's evaluator (`evaluate.compile_query`)
returns on the same `DocumentAnalysis`, only cheaper, because a plain yes or no needs neither
word positions nor the list of matched terms:

- a one-word term (word, wildcard or unspaced substring, any case mode) occurs in a field
  exactly when its key (`required.key_of`) is among the field's keys
  (`DocumentAnalysis.field_keys`): a set membership test;
- the one-word terms of an AND or an OR that read the same fields collapse into one subset
  or overlap test of their keys (one call into C);
- a phrase is left to `phrase.compile_phrase`; NEAR is screened first: each key it names
  must be among the document's keys (`DocumentAnalysis.keys`), which rules out nearly every
  document without building word positions; only then does its evaluator run;
- NOT negates, AND and OR combine, set tests before anything else (order cannot change the
  value of an AND or an OR; the explainer, which reports terms, keeps the written order).

Explainers use deciders for what sits under a NOT, whose terms are never reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import assert_never

from consumers.matching.analysis import DocumentAnalysis
from consumers.matching.evaluate import compile_query
from consumers.matching.phrase import compile_phrase
from consumers.matching.query import DEFAULT_FIELDS, And, Near, Node, Not, Or, Term, one_word
from consumers.matching.required import term_keys

Decider = Callable[[DocumentAnalysis], bool]
_TITLE = frozenset({"title"})
_SUMMARY = frozenset({"summary"})


def compile_decider(node: Node) -> Decider:
    """The decider of one query (see the module docstring)."""
    if isinstance(node, Term):
        if len(node.words) == 1:
            return _all_keys(node.fields, term_keys(node))
        phrase = compile_phrase(node)
        return lambda doc: phrase(doc, [])
    if isinstance(node, Near):
        return _screened(node, term_keys(node.left) | term_keys(node.right))
    if isinstance(node, Not):
        child = compile_decider(node.child)
        return lambda doc: not child(doc)
    if isinstance(node, And):
        return _all(
            [_all_keys(fields, keys) for fields, keys in _grouped(node.children)]
            + [compile_decider(child) for child in node.children if not one_word(child)]
        )
    if isinstance(node, Or):
        return _any(
            [_any_key(fields, keys) for fields, keys in _grouped(node.children)]
            + [compile_decider(child) for child in node.children if not one_word(child)]
        )
    assert_never(node)


def _grouped(children: Sequence[Node]) -> list[tuple[frozenset[str], frozenset[str]]]:
    """The keys of the one-word terms among `children`, gathered per set of fields read (in
    first-seen order, so compiling does not depend on hashing)."""
    groups: dict[frozenset[str], set[str]] = {}
    for child in children:
        if one_word(child):
            groups.setdefault(child.fields, set()).update(term_keys(child))
    return [(fields, frozenset(keys)) for fields, keys in groups.items()]


def _all_keys(fields: frozenset[str], keys: frozenset[str]) -> Decider:
    """Every key of `keys` occurs in one of `fields` (each key in any of them)."""
    if len(keys) == 1:
        [key] = keys
        if fields == DEFAULT_FIELDS:
            return lambda doc: key in doc.default
        if fields == _TITLE:
            return lambda doc: key in doc.title
        if fields == _SUMMARY:
            return lambda doc: key in doc.summary
    if fields == DEFAULT_FIELDS:
        return lambda doc: keys <= doc.default
    if fields == _TITLE:
        return lambda doc: keys <= doc.title
    if fields == _SUMMARY:
        return lambda doc: keys <= doc.summary
    ordered = tuple(sorted(fields))
    return lambda doc: keys.issubset(_union(doc, ordered))


def _any_key(fields: frozenset[str], keys: frozenset[str]) -> Decider:
    """Some key of `keys` occurs in one of `fields`."""
    if len(keys) == 1:
        return _all_keys(fields, keys)
    if fields == DEFAULT_FIELDS:
        return lambda doc: not keys.isdisjoint(doc.default)
    if fields == _TITLE:
        return lambda doc: not keys.isdisjoint(doc.title)
    if fields == _SUMMARY:
        return lambda doc: not keys.isdisjoint(doc.summary)
    ordered = tuple(sorted(fields))
    return lambda doc: not keys.isdisjoint(_union(doc, ordered))


def _union(doc: DocumentAnalysis, fields: tuple[str, ...]) -> frozenset[str] | set[str]:
    if len(fields) == 1:
        return doc.field_keys[fields[0]]
    return frozenset().union(*(doc.field_keys[field] for field in fields))


def _screened(node: Near, keys: frozenset[str]) -> Decider:
    evaluator = compile_query(node)
    return lambda doc: keys <= doc.keys and evaluator.evaluate(doc, [])


def _all(parts: list[Decider]) -> Decider:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda doc: first(doc) and second(doc)

    def decide(doc: DocumentAnalysis) -> bool:
        for part in parts:  # noqa: SIM110 (a plain loop: all() of a generator costs more)
            if not part(doc):
                return False
        return True

    return decide


def _any(parts: list[Decider]) -> Decider:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda doc: first(doc) or second(doc)

    def decide(doc: DocumentAnalysis) -> bool:
        for part in parts:  # noqa: SIM110 (a plain loop: any() of a generator costs more)
            if part(doc):
                return True
        return False

    return decide
