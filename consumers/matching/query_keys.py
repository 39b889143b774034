"""The keys a query needs: which words a document must hold for it to match (presearch).

A query's requirement is a list of *clauses*; each clause is a set of keys, and a document can
match only if it holds at least one key of every clause. Keys are strings:

    china     a folded word stem                 (the term `China`)
    *cut      a folded word or stem starting so   (the wildcard `cut*`)
    ~中国      a folded unspaced run containing it (the term `中国`)
    `ICO      the same three, case as written     (backquoted terms: `ICO`, `IC*`)

Word stems never start with *, ~ or `, so the kinds cannot collide. Fields are ignored: a
clause is checked against the words of every field the index reads, which can only let more
documents through, never fewer.

Derivation (each rule keeps "match implies every clause holds"):
- a term or phrase: one clause per word, since all its words must be present;
- NEAR: the clauses of both sides;
- AND: the clauses of every child;
- OR: one clause, the union of each child's cheapest clause; nothing when a child has none;
- NOT: nothing, since absence cannot be looked up.
A query with no clause (`NOT foo`, `NOT a OR b`) must be evaluated for every document.
"""

from __future__ import annotations

from typing import assert_never

from consumers.matching.syntax import And, Near, Node, Not, Or, Term, Word

Clause = frozenset[str]

# Words so common in English news that a clause of them narrows almost nothing. Only used to
# rank clauses; correctness never depends on it.
_COMMON = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "in",
        "into",
        "is",
        "it",
        "its",
        "new",
        "not",
        "of",
        "on",
        "or",
        "over",
        "said",
        "says",
        "than",
        "that",
        "the",
        "their",
        "they",
        "this",
        "to",
        "up",
        "was",
        "we",
        "were",
        "which",
        "who",
        "will",
        "with",
        "would",
        "year",
        "you",
        "after",
        "all",
        "also",
        "about",
        "more",
        "most",
        "new",
        "one",
        "two",
    ]
)


def key_of(word: Word, case_sensitive: bool) -> str:
    """The index key under which a term word is found in a document."""
    marker = "`" if case_sensitive else ""
    if word.kind == "word":
        return marker + word.text
    if word.kind == "prefix":
        return marker + "*" + word.text
    return marker + "~" + word.text


def required_clauses(node: Node) -> list[Clause]:
    """Every clause a matching document satisfies (see the module docstring)."""
    if isinstance(node, Term):
        return _term_clauses(node)
    if isinstance(node, Near):
        return _term_clauses(node.left) + _term_clauses(node.right)
    if isinstance(node, Not):
        return []
    if isinstance(node, And):
        return [clause for child in node.children for clause in required_clauses(child)]
    if isinstance(node, Or):
        union: set[str] = set()
        for child in node.children:
            clauses = required_clauses(child)
            if not clauses:
                return []
            union |= cheapest(clauses)
        return [frozenset(union)]
    assert_never(node)


def _term_clauses(term: Term) -> list[Clause]:
    return [frozenset({key_of(word, term.case_sensitive)}) for word in term.words]


def cheapest(clauses: list[Clause]) -> Clause:
    """The clause that documents satisfy least often, by a static estimate."""
    return min(clauses, key=clause_cost)


def clause_cost(clause: Clause) -> float:
    """Roughly the share of documents holding some key of the clause (smaller is better)."""
    return sum(key_cost(key) for key in clause)


def key_cost(key: str) -> float:
    """Longer words are rarer (the weighting Lucene Monitor uses by default); a wildcard is
    worth a word a few characters shorter; one unspaced character carries about as much as
    two Latin letters."""
    body = key.lstrip("`")
    if body.startswith("*"):
        return 2.0 ** -(len(body) - 1 - 2)
    if body.startswith("~"):
        return 2.0 ** -(2 * (len(body) - 1))
    if body.lower() in _COMMON:
        return 1.0
    return 2.0 ** -len(body)


# Most alternatives filed for one query: the product of two clauses of an AND is filed only
# up to this size (an AND of two OR groups of three: 9), else its cheaper side alone.
MAX_ALTERNATIVES = 16


def alternatives(node: Node) -> list[Clause] | None:
    """Sets of at most two keys, one of which (all of its keys) every matching document holds:
    a finer requirement than `required_clauses` for the index to file a query under. None
    when there is none (a query with no required clause). Rules (each keeps "match implies
    some set is held"): a term or NEAR: its two cheapest keys; OR: the sets of every child;
    AND: every union of a set of each of its two cheapest children, cut to its two cheapest
    keys; NOT: none."""
    if isinstance(node, Term):
        return [_cut(term_keys(node))]
    if isinstance(node, Near):
        return [_cut(term_keys(node.left) | term_keys(node.right))]
    if isinstance(node, Not):
        return None
    if isinstance(node, Or):
        found: list[Clause] = []
        for child in node.children:
            sets = alternatives(child)
            if sets is None:
                return None
            found += sets
        return _minimal(found)
    if isinstance(node, And):
        options = [sets for sets in map(alternatives, node.children) if sets is not None]
        if not options:
            return None
        options.sort(key=_alternatives_cost)  # stable: ties keep the written order
        if len(options) == 1 or len(options[0]) * len(options[1]) > MAX_ALTERNATIVES:
            return options[0]
        return _minimal([_cut(a | b) for a in options[0] for b in options[1]])
    assert_never(node)


def term_keys(term: Term) -> frozenset[str]:
    """The keys of a term's words, all of which a document holding the term holds."""
    return frozenset(key_of(word, term.case_sensitive) for word in term.words)


def _cut(keys: frozenset[str]) -> Clause:
    """The two cheapest keys (ties broken by content, not by hashing)."""
    return frozenset(sorted(keys, key=lambda key: (key_cost(key), key))[:2])


def _alternatives_cost(sets: list[Clause]) -> float:
    """Roughly the share of documents holding one of the sets (keys taken as independent)."""
    total = 0.0
    for keys in sets:
        share = 1.0
        for key in keys:
            share *= key_cost(key)
        total += share
    return total


def _minimal(sets: list[Clause]) -> list[Clause]:
    """Without repeats, and without a set holding another (the other already suffices)."""
    unique = list(dict.fromkeys(sets))
    return [keys for keys in unique if not any(other < keys for other in unique)]
