"""The index of watchlists by key: each query part filed under the keys a match needs (pure).

Like Lucene Monitor and the Elasticsearch percolator, each compiled query is filed under keys
one of which any matching document must contain (`query_keys`), so a document is evaluated
only against the queries it could match (`candidates`). Queries with no such keys (`NOT foo`)
are evaluated for every document.

A query that is an OR is filed as its children, its *parts*, each under its own keys: the OR
reports the terms of each true child in written order, so joining the Hits of the parts that
match, in that order, gives exactly the OR's Hit. Most children of real ORs are one-word
terms, which are then never evaluated:

- a one-word part matches exactly when its key is in one of its fields, and reports the first
  such field; its Hit for each field is built here, once, and filed under its key per field
  (`passes`), so a document's key sets pick the Hits out with set operations in C;
- every other part is filed under sets of at most two keys, one of which (both keys of it)
  every matching document holds (`query_keys.alternatives`), and selected only when the
  document holds a whole set: a phrase, NEAR or `a b` under its two rarest words; an OR under
  the sets of its children, so `(yuan OR "rate cut") NOT x` under yuan and under rate and
  cut; an AND of two OR groups under each pair of a word of one and a word of the other.
  Filing under pairs rather than one key leaves far fewer candidates that fail for lack of a
  second word (bench/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from consumers.matching.document import KeyFinder, Lexicon
from consumers.matching.evaluate import compile_evaluator
from consumers.matching.query_keys import (
    Clause,
    alternatives,
    clause_cost,
    key_cost,
    key_of,
    required_clauses,
    term_keys,
)
from consumers.matching.syntax import FIELD_ORDER, Node, Or, one_word, terms
from consumers.matching.values import Hit

# A part's code is its query's number, shifted, plus its position in the query, so sorting
# codes puts Hits in config order and the parts of one query in written order.
Pair = tuple[int, Hit]  # a part's code and its Hit

# Shared by the Hits built at compile time (hundreds of thousands in a large matcher).
_ONE_FIELD = {field: (field,) for field in FIELD_ORDER}


class WatchlistIndex:
    """Query parts filed under keys. Read by `candidates`; the fields below are its layout.

    - `passes`: per (field, fields read before it), the one-word parts that report this field
      when it holds their key and none of those earlier fields do: (field, earlier, keys,
      {key: (code, Hit)...}), in a stable order;
    - `evaluators`, `codes`, `part_names`: of each part that is evaluated when selected, its
      evaluator (`evaluate.compile_evaluator`), code and watchlist; indexed alike;
    - `postings`: key -> indexes of evaluated parts filed under that key alone;
    - `paired`: first key -> second key -> indexes of parts filed under both;
    - `always`: indexes of parts with no keys, evaluated for every document;
    - `finder`: the keys some query names, found in a document's words (`document.KeyFinder`);
    - `fields`: the fields other than title and summary that some query reads.
    """

    def __init__(self, queries: Sequence[tuple[str, Node]], lexicon: Lexicon) -> None:
        widest = max((len(_parts(node)) for _, node in queries), default=1)
        self.shift = widest.bit_length()
        passes: dict[tuple[str, tuple[str, ...]], dict[str, list[Pair]]] = {}
        postings: dict[str, list[int]] = {}
        paired: dict[str, dict[str, list[int]]] = {}
        explained: list[tuple[int, str, Node, Clause]] = []  # code, name, part, held clause
        always: list[int] = []
        named: set[str] = set()
        fields: set[str] = set()
        for number, (name, node) in enumerate(queries):
            for position, part in enumerate(_parts(node)):
                code = number << self.shift | position
                if one_word(part):
                    key = key_of(part.words[0], part.case_sensitive)
                    ordered = tuple(field for field in FIELD_ORDER if field in part.fields)
                    labels = (part.label,)
                    for place, field in enumerate(ordered):
                        by_key = passes.setdefault((field, ordered[:place]), {})
                        hit = Hit(name, labels, _ONE_FIELD[field])
                        by_key.setdefault(key, []).append((code, hit))
                    continue
                index = len(explained)
                sets = alternatives(part)
                if sets is None:
                    always.append(index)
                for keys in sets or ():
                    first, *rest = sorted(keys, key=_key_rank)
                    if not rest:
                        postings.setdefault(first, []).append(index)
                    else:
                        [second] = rest
                        paired.setdefault(first, {}).setdefault(second, []).append(index)
                explained.append((code, name, part, _held(part, sets or [])))
            for term in terms(node):
                named |= term_keys(term)
                fields |= term.fields
        self.passes = tuple(
            (field, earlier, frozenset(by_key), {k: tuple(v) for k, v in by_key.items()})
            for (field, earlier), by_key in sorted(passes.items())
        )
        # One-word parts are never evaluated: their Hits are built above.
        self.evaluators = tuple(compile_evaluator(part, held) for _, _, part, held in explained)
        self.codes = tuple(code for code, _, _, _ in explained)
        self.part_names = tuple(name for _, name, _, _ in explained)
        self.postings = {key: tuple(indexes) for key, indexes in postings.items()}
        self.indexed = frozenset(self.postings)
        self.paired = {
            first: {second: tuple(indexes) for second, indexes in by_second.items()}
            for first, by_second in paired.items()
        }
        self.paired_keys = frozenset(self.paired)
        self.always = tuple(always)
        self.always_queries = len({self.codes[index] >> self.shift for index in always})
        self.finder = KeyFinder(named, lexicon)
        self.fields = tuple(sorted(fields - {"title", "summary"}))  # title, summary: always


def _parts(node: Node) -> tuple[Node, ...]:
    """The parts of a query matched on their own: the children of a top-level OR, else the
    query itself."""
    return node.children if isinstance(node, Or) else (node,)


def _key_rank(key: str) -> tuple[float, str]:
    return key_cost(key), key  # the rarer key first; ties broken by content, not by hashing


def _held(part: Node, sets: list[Clause]) -> Clause:
    """A clause of the part's (`query_keys.required_clauses`) that every document it is filed
    for holds, so its evaluator need not screen it; empty if none."""
    for clause in sorted(set(required_clauses(part)), key=_rank):
        if all(not keys.isdisjoint(clause) for keys in sets):
            return clause
    return frozenset()


def _rank(clause: Clause) -> tuple[float, tuple[str, ...]]:
    return clause_cost(clause), tuple(sorted(clause))  # ties broken by content, not by hashing
