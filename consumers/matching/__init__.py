"""Watchlist query language and compiled matcher: a pure core (standard library only, no I/O,
no clock, no asyncio).

The flow, one module per step:

1. parse (`lex`, `parse`): query text -> tokens -> syntax tree (`syntax`: Term, And, Or,
   Not, Near), with terms normalised by the word rules of `text` (words, folding, stemming),
   which documents go through as well. `parse_query` raises `QuerySyntaxError` naming the
   column; `parse_watchlist` wraps it as `WatchlistError` naming the watchlist too (`errors`).
2. index (`query_keys`, `watchlist_index`): the keys a matching document must hold are
   derived from each tree (`query_keys`), and each query part is filed under them
   (`watchlist_index.WatchlistIndex`), one-word terms with their Hits prebuilt.
3. candidates (`document`, `candidates`): a document is analysed once into words and index
   keys (`document.DocumentAnalysis`), from which `candidates` selects the parts it could
   match, with set operations.
4. evaluate and explain (`evaluate`): each candidate's evaluator answers and reports the
   terms and fields that made it match; `matcher.Matcher` caches and joins the resulting
   Hits (`values`: Document in, Hit out) in config order.

Concepts: `@name` in a query refers to a named set of entries, each a term, "quoted phrase",
`backquoted` term or trailing wildcard, and means the OR of them; a match reports the entries
that matched as its terms, as written in the set. The sets are passed in, never read here:

    parse_query(text, concepts=None) -> Node
    parse_watchlist(name, text, concepts=None) -> Node
    compile_watchlists(queries, concepts=None) -> Matcher
    compile_naive(queries, concepts=None) -> NaiveMatcher

with `concepts: Concepts = Mapping[str, Sequence[str]]` (name without the @ -> entry strings).
An unknown `@name`, an empty set or an entry that is not one term raises QuerySyntaxError
naming the concept, at the column of the `@` (WatchlistError from the compilers). Parsing
expands `@name` into ordinary nodes (`parse`), so the index, the evaluator and the reference
support concepts alike.

The reference evaluator is `reference` (`compile_naive`, `NaiveMatcher`): every query
evaluated on word positions (`positions`) for every document, the plain way. The indexed
matcher must return exactly its hits, terms and fields; the property tests and
bench/match.py compare the two.
"""

from consumers.matching.errors import QuerySyntaxError, WatchlistError
from consumers.matching.matcher import Matcher, compile_watchlists
from consumers.matching.parse import Concepts, parse_query, parse_watchlist
from consumers.matching.reference import NaiveMatcher, compile_naive
from consumers.matching.syntax import Node
from consumers.matching.values import Document, Hit

__all__ = [
    "Concepts",
    "Document",
    "Hit",
    "Matcher",
    "NaiveMatcher",
    "Node",
    "QuerySyntaxError",
    "WatchlistError",
    "compile_naive",
    "compile_watchlists",
    "parse_query",
    "parse_watchlist",
]
