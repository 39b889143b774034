"""Evaluation and explanation for the indexed matcher: one evaluator per query (pure, no I/O).

`compile_evaluator` turns a syntax tree into one function of a `DocumentAnalysis` that answers
"does it match?" and, when it does, appends the (term label, field) pairs that made it match:
every true branch of an OR, all branches of a true AND (in the order written), nothing from
under a NOT; a term reports the first field, in the order title, summary, feed, link, where
it occurs. That is exactly what the reference evaluator (`reference.compile_query`) reports,
which the property tests check by comparing the two matchers.

It is the indexed matcher's only evaluation of the tree; what under a NOT needs only a yes or
no runs the same evaluator and drops its report. It is separate from the reference because it
reads the document's key sets rather than word positions wherever it can:

- a one-word term (word, wildcard or unspaced substring, any case mode) occurs in a field
  exactly when its key (`query_keys.key_of`) is among the field's keys
  (`DocumentAnalysis.field_keys`): a set membership test;
- a phrase is checked field by field: every word's key must be among the field's keys (a set
  test that rules out most fields), then the first word's positions are found in the field's
  stems and each following word checked at its offset, by kind: the stem equals it (word),
  the form or the stem starts with it (wildcard), or it is inside an unspaced form
  (substring), exactly the tests of `positions.FieldView.positions`;
- NEAR is screened by the document's keys (each key it names must be held), which rules out
  nearly every document without building word positions; only then are positions compared
  (`positions.starts`, `positions.close`, shared with the reference);
- an AND first screens the clauses it requires (`query_keys.required_clauses`), set tests in
  C, since most candidate ANDs lack a key they need; an AND of plain terms, ORs of them and
  NOTs of one (`(a OR b) NOT c`, the commonest AND) is explained in one loop over key and
  label pairs, without a call per child.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeGuard, assert_never

from consumers.matching.document import DocumentAnalysis
from consumers.matching.positions import close, starts
from consumers.matching.query_keys import Clause, key_of, required_clauses, term_keys
from consumers.matching.syntax import (
    DEFAULT_FIELDS,
    FIELD_ORDER,
    And,
    Near,
    Node,
    Not,
    Or,
    Term,
    Word,
    one_word,
)
from consumers.matching.text import is_unspaced
from consumers.matching.values import Found

Evaluator = Callable[[DocumentAnalysis, Found], bool]


def compile_evaluator(node: Node, known: Clause = frozenset()) -> Evaluator:
    """The evaluator of one query (see the module docstring). `known`: a clause of the
    query's (`query_keys.required_clauses`) that the caller has found to hold, so an AND need
    not screen it."""
    if isinstance(node, Term):
        if len(node.words) == 1:
            return _one_word(node)
        return _phrase(node)
    if isinstance(node, Near):
        return _near(node)
    if isinstance(node, Not):
        child = compile_evaluator(node.child)
        return lambda doc, found: not child(doc, [])
    if isinstance(node, And | Or):
        if isinstance(node, And) and all(_flat(child) for child in node.children):
            return _words(node.children)
        items = tuple(_item(child) for child in node.children)
        if isinstance(node, Or):
            return _every(items)
        clauses = [clause for clause in required_clauses(node) if clause != known]
        return _all(items, *_screen(clauses))
    assert_never(node)


# --- AND and OR ----------------------------------------------------------------------------

# A child of an AND or an OR: a one-word term over title and summary as its key and label,
# looked up inline (the commonest child; no call, and few objects to reach in a large
# matcher), or any other child as its evaluator.
_Item = tuple[str, str, Evaluator | None]


def _item(node: Node) -> _Item:
    if _plain(node):
        return key_of(node.words[0], node.case_sensitive), node.label, None
    return "", "", compile_evaluator(node)


def _plain(node: Node) -> TypeGuard[Term]:
    """A one-word term over title and summary."""
    return one_word(node) and node.fields == DEFAULT_FIELDS


def _flat(node: Node) -> bool:
    """A plain term, an OR of them, or NOT one: what `_words` explains in one loop."""
    if isinstance(node, Or):
        return all(map(_plain, node.children))
    return _plain(node.child) if isinstance(node, Not) else _plain(node)


def _words(children: tuple[Node, ...]) -> Evaluator:
    """An AND of plain terms, ORs of them and NOTs of a plain term, in one loop over key and
    label pairs: the same report as `_all` over `_every` and NOT, without the calls and the
    objects a call reaches (reaching them, in a large matcher, costs more than the lookups)."""
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

    def evaluate(doc: DocumentAnalysis, found: Found) -> bool:
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

    return evaluate


def _screen(clauses: list[Clause]) -> tuple[frozenset[str], tuple[Clause, ...]]:
    """The keys a match needs all of, and the sets it needs one key of (`query_keys`)."""
    single = frozenset(key for clause in clauses if len(clause) == 1 for key in clause)
    return single, tuple(clause for clause in set(clauses) if len(clause) > 1)


def _all(items: tuple[_Item, ...], needed: frozenset[str], groups: tuple[Clause, ...]) -> Evaluator:
    """Every item, in written order. Screened first: most candidate ANDs lack a key they need
    (`needed`: all of them; `groups`: one of each), found by set tests in C."""

    def evaluate(doc: DocumentAnalysis, found: Found) -> bool:
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

    return evaluate


def _every(items: tuple[_Item, ...]) -> Evaluator:
    def evaluate(doc: DocumentAnalysis, found: Found) -> bool:
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

    return evaluate


# --- terms, phrases and NEAR ---------------------------------------------------------------


def _one_word(term: Term) -> Evaluator:
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


# Whether word i of a field (its form and its stem) is this term word.
_Test = Callable[[Sequence[str], Sequence[str], int], bool]


def _phrase(term: Term) -> Evaluator:
    """A term of several words, one field at a time (see the module docstring)."""
    keys = term_keys(term)
    fields = tuple(field for field in FIELD_ORDER if field in term.fields)
    first, length, case, label = term.words[0], len(term.words), term.case_sensitive, term.label
    if all(word.kind == "word" for word in term.words):
        return _plain_phrase(term, keys, fields)
    following = tuple((offset, _test(word)) for offset, word in enumerate(term.words) if offset)

    def evaluate(doc: DocumentAnalysis, found: Found) -> bool:
        if not keys <= doc.keys:  # one test rules out most documents for every field
            return False
        for field in fields:
            if not keys <= doc.field_keys[field]:
                continue
            forms, stems = doc.forms(field, case), doc.stems(field, case)
            for start in _starts(first, forms, stems, len(stems) - length):
                if all(test(forms, stems, start + offset) for offset, test in following):
                    found.append((label, field))
                    return True
        return False

    return evaluate


def _plain_phrase(term: Term, keys: frozenset[str], fields: tuple[str, ...]) -> Evaluator:
    """A phrase of plain words (most are): each start of the first word's stem, found by
    scans in C, is followed by the other stems exactly when a slice of the field's stems
    equals them (one comparison in C, not a test per word)."""
    first, *rest = (word.text for word in term.words)
    length, case, label = len(term.words), term.case_sensitive, term.label

    def evaluate(doc: DocumentAnalysis, found: Found) -> bool:
        if not keys <= doc.keys:
            return False
        for field in fields:
            if not keys <= doc.field_keys[field]:
                continue
            stems, start = doc.stems(field, case), -1
            for _ in range(stems.count(first)):
                start = stems.index(first, start + 1)
                if stems[start + 1 : start + length] == rest:
                    found.append((label, field))
                    return True
        return False

    return evaluate


def _starts(word: Word, forms: Sequence[str], stems: Sequence[str], last: int) -> Iterator[int]:
    """Positions up to `last` where `word` occurs, in order."""
    if word.kind == "word":
        # list.index scans in C; a field holds a word a few times at most.
        text, start = word.text, 0
        for _ in range(stems[: last + 1].count(text)):
            start = stems.index(text, start)
            yield start
            start += 1
        return
    test = _test(word)
    for position in range(last + 1):
        if test(forms, stems, position):
            yield position


def _test(word: Word) -> _Test:
    text = word.text
    if word.kind == "word":
        return lambda forms, stems, i: stems[i] == text
    if word.kind == "prefix":
        return lambda forms, stems, i: forms[i].startswith(text) or stems[i].startswith(text)
    return lambda forms, stems, i: text in forms[i] and is_unspaced(forms[i])


def _near(node: Near) -> Evaluator:
    """Screened by the keys both sides name, then word positions per field, in order."""
    keys = term_keys(node.left) | term_keys(node.right)
    left, right, distance = node.left, node.right, node.distance
    fields = tuple(field for field in FIELD_ORDER if field in node.fields)

    def evaluate(doc: DocumentAnalysis, found: Found) -> bool:
        if not keys <= doc.keys:
            return False
        for field in fields:
            lefts = starts(doc.view(field, left.case_sensitive), left.words)
            if not lefts:
                continue
            rights = starts(doc.view(field, right.case_sensitive), right.words)
            if rights and close(lefts, len(left.words), rights, len(right.words), distance):
                found.extend(((left.label, field), (right.label, field)))
                return True
        return False

    return evaluate
