"""Yes-or-no answers for compiled queries, from a document's word sets (pure, no I/O).

A decider returns exactly the truth value that the query's evaluator (`evaluate.compile_query`)
returns on the same `DocumentAnalysis`, only cheaper, because most candidate queries do not
match and a plain yes or no needs neither word positions nor the list of matched terms:

- a one-word term is a membership test on the stem set of its fields; the one-word terms of an
  AND or an OR that read the same fields collapse into one subset or overlap test (C code);
- a one-word wildcard or unspaced term is a membership test of its key (`required.key_of`)
  on the key set of its fields (`DocumentAnalysis.field_keys`);
- a phrase and NEAR are screened first: each key they name must be among the document's keys
  (`DocumentAnalysis.keys`), which rules out nearly every candidate without building
  positions; only then does the evaluator run;
- NOT negates, AND and OR combine, set tests before anything else (order cannot change the
  value of an AND or an OR; the evaluator, which reports terms, keeps the written order).

The matcher asks the evaluator for the matched terms once a decider has said yes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import assert_never

from consumers.matching.analysis import DocumentAnalysis
from consumers.matching.evaluate import compile_query
from consumers.matching.query import DEFAULT_FIELDS, And, Near, Node, Not, Or, Term
from consumers.matching.required import key_of

Decider = Callable[[DocumentAnalysis], bool]
# The fields a one-word term reads and whether its case counts: its words share one stem set.
_Scope = tuple[frozenset[str], bool]
_TITLE = frozenset({"title"})
_SUMMARY = frozenset({"summary"})


def compile_decider(node: Node) -> Decider:
    """The decider of one query (see the module docstring)."""
    if isinstance(node, Term):
        if _is_word(node):
            return _words_all(_scope(node), frozenset({node.words[0].text}))
        if len(node.words) == 1:
            return _keyed(node)
        return _screened(node, term_keys(node))
    if isinstance(node, Near):
        return _screened(node, term_keys(node.left) | term_keys(node.right))
    if isinstance(node, Not):
        child = compile_decider(node.child)
        return lambda doc: not child(doc)
    if isinstance(node, And):
        return _all(
            [_words_all(scope, words) for scope, words in _grouped(node.children)]
            + [compile_decider(child) for child in node.children if not _is_word(child)]
        )
    if isinstance(node, Or):
        return _any(
            [_words_any(scope, words) for scope, words in _grouped(node.children)]
            + [compile_decider(child) for child in node.children if not _is_word(child)]
        )
    assert_never(node)


def _is_word(node: Node) -> bool:
    return isinstance(node, Term) and len(node.words) == 1 and node.words[0].kind == "word"


def _scope(term: Term) -> _Scope:
    return term.fields, term.case_sensitive


def term_keys(term: Term) -> frozenset[str]:
    return frozenset(key_of(word, term.case_sensitive) for word in term.words)


def _grouped(children: Sequence[Node]) -> list[tuple[_Scope, frozenset[str]]]:
    """The one-word terms among `children`, their words gathered per scope (in first-seen
    order, so compiling does not depend on hashing)."""
    groups: dict[_Scope, set[str]] = {}
    for child in children:
        if isinstance(child, Term) and _is_word(child):
            groups.setdefault(_scope(child), set()).add(child.words[0].text)
    return [(scope, frozenset(words)) for scope, words in groups.items()]


def _stems(scope: _Scope) -> Callable[[DocumentAnalysis], set[str]]:
    """The stem set a scope's words are looked up in, for the scopes not kept as attributes."""
    fields, case_sensitive = scope
    ordered = sorted(fields)
    if len(ordered) == 1:
        field = ordered[0]
        return lambda doc: doc.words(field, case_sensitive)
    return lambda doc: set().union(*(doc.words(field, case_sensitive) for field in ordered))


def _words_all(scope: _Scope, words: frozenset[str]) -> Decider:
    """All of `words` occur in the scope's fields (each word in any of them)."""
    fields, case_sensitive = scope
    if len(words) == 1:
        [word] = words
        if not case_sensitive and fields == DEFAULT_FIELDS:
            return lambda doc: word in doc.default
        if not case_sensitive and fields == _TITLE:
            return lambda doc: word in doc.title
        if not case_sensitive and fields == _SUMMARY:
            return lambda doc: word in doc.summary
    if not case_sensitive and fields == DEFAULT_FIELDS:
        return lambda doc: words <= doc.default
    if not case_sensitive and fields == _TITLE:
        return lambda doc: words <= doc.title
    if not case_sensitive and fields == _SUMMARY:
        return lambda doc: words <= doc.summary
    stems = _stems(scope)
    return lambda doc: words <= stems(doc)


def _words_any(scope: _Scope, words: frozenset[str]) -> Decider:
    """Some word of `words` occurs in the scope's fields."""
    fields, case_sensitive = scope
    if len(words) == 1:
        return _words_all(scope, words)
    if not case_sensitive and fields == DEFAULT_FIELDS:
        return lambda doc: not words.isdisjoint(doc.default)
    if not case_sensitive and fields == _TITLE:
        return lambda doc: not words.isdisjoint(doc.title)
    if not case_sensitive and fields == _SUMMARY:
        return lambda doc: not words.isdisjoint(doc.summary)
    stems = _stems(scope)
    return lambda doc: not words.isdisjoint(stems(doc))


def _keyed(term: Term) -> Decider:
    """A one-word wildcard or unspaced term: its key among the keys of one of its fields."""
    key = key_of(term.words[0], term.case_sensitive)
    fields = tuple(sorted(term.fields))
    if len(fields) == 1:
        field = fields[0]
        return lambda doc: key in doc.field_keys[field]
    return lambda doc: key in doc.keys and any(key in doc.field_keys[f] for f in fields)


def _screened(node: Term | Near, keys: frozenset[str]) -> Decider:
    evaluator = compile_query(node)
    if len(keys) == 1:
        [key] = keys
        return lambda doc: key in doc.keys and evaluator.evaluate(doc, [])
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
