"""Where a query is parsed: tokens (`lex`) -> syntax tree (`syntax`), concepts expanded (pure).

Grammar, loosest binding first (operators are uppercase; "and", "or", "not" are plain words)::

    query   := or END
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*          adjacency means AND
    unary   := "NOT"* near                     a query may be NOT-only ("NOT foo")
    near    := primary ["NEAR/" N primary]     both sides a term, phrase or wildcard; 1 <= N <= 50
    primary := FIELD ":" primary | "(" or ")" | term | "phrase" | `exact` | "@" NAME

A field (title, summary, feed, link; any case) applies to the term, phrase or group that
follows it, the innermost field winning; without one a term searches title and summary.
`a NEAR/N b` holds when both occur in one field at distinct positions at most N words apart
(NEAR/1: adjacent), in either order. `cut*` is a trailing wildcard (at least two
characters before the star, also inside phrases). Terms are split into words by the same rules
as article text (see `text`), so a term such as `Hong-Kong` or `U.S.` is a phrase.

Concepts: `@name` refers to a named set of entries passed in by the caller (`concepts`: name
-> entries; the parser reads no file). Each entry is one term, "quoted phrase", `backquoted`
term or trailing wildcard, in the syntax above. `@name` is the OR of its entries, parsed in
the fields that apply where it stands (`title:@places`), and each entry that matches is
reported as a term, labelled as written in the concept. Where `@name` is a child of an OR,
its entries become children of that OR, which reports the same terms. `@name` counts as one
term towards `MAX_TERMS`; a concept holds at most `MAX_CONCEPT_ENTRIES` entries. An unknown
name, an empty concept or an entry that is not a single term is a QuerySyntaxError at the
column of the `@`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

from consumers.matching.errors import QuerySyntaxError, WatchlistError
from consumers.matching.lex import Token, lex
from consumers.matching.syntax import (
    DEFAULT_FIELDS,
    MAX_DEPTH,
    MAX_QUERY_LENGTH,
    MAX_TERMS,
    MIN_PREFIX,
    And,
    Near,
    Node,
    Not,
    Or,
    Term,
    Word,
)
from consumers.matching.text import fold, is_unspaced, stem, tokenise

# Named sets of entries that `@name` refers to: name -> entries (see the module docstring).
Concepts = Mapping[str, Sequence[str]]
MAX_CONCEPT_ENTRIES = 1000
_NO_CONCEPTS: Concepts = {}


def parse_query(text: str, concepts: Concepts | None = None) -> Node:
    """Parse a query into its syntax tree; raise QuerySyntaxError naming the column.

    `concepts`: the sets `@name` may refer to (name -> entry strings); none by default."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            f"the query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH + 1
        )
    tokens = lex(text)
    if tokens[0].kind == "END":
        raise QuerySyntaxError("the query is empty", 1)
    return _Parser(tokens, _NO_CONCEPTS if concepts is None else concepts).parse()


def parse_watchlist(name: str, text: str, concepts: Concepts | None = None) -> Node:
    """`parse_query`, with the error naming the watchlist."""
    try:
        return parse_query(text, concepts)
    except QuerySyntaxError as error:
        raise WatchlistError(name, error.column, error.message) from error


# --- parser ------------------------------------------------------------------------------

_STARTS = frozenset({"TERM", "PHRASE", "EXACT", "CONCEPT", "FIELD", "(", "NOT"})
_TERMS = ("TERM", "PHRASE", "EXACT")


class _Parser:
    def __init__(self, tokens: list[Token], concepts: Concepts) -> None:
        self._tokens = tokens
        self._concepts = concepts
        self._pos = 0
        self._terms = 0
        self._expanded: dict[int, Or] = {}  # the ORs that stand for a concept, by id

    def parse(self) -> Node:
        node = self._or(DEFAULT_FIELDS, 0)
        token = self._peek()
        if token.kind == ")":
            raise QuerySyntaxError("unbalanced parenthesis", token.column)
        return node

    def _peek(self) -> Token:
        return self._tokens[self._pos]

    def _next(self) -> Token:
        token = self._tokens[self._pos]
        self._pos += 1
        return token

    def _previous(self) -> Token | None:
        return self._tokens[self._pos - 2] if self._pos >= 2 else None

    def _or(self, fields: frozenset[str], depth: int) -> Node:
        children = [self._and(fields, depth)]
        while self._peek().kind == "OR":
            self._next()
            children.append(self._and(fields, depth))
        if len(children) == 1:
            return children[0]
        # A concept's entries join the OR it stands in: the same value and the same terms
        # reported, and one-word entries become parts the index answers on its own.
        spliced: list[Node] = []
        for child in children:
            if isinstance(child, Or) and id(child) in self._expanded:
                spliced.extend(child.children)
            else:
                spliced.append(child)
        return Or(tuple(spliced))

    def _and(self, fields: frozenset[str], depth: int) -> Node:
        children = [self._unary(fields, depth)]
        while True:
            kind = self._peek().kind
            if kind == "AND":
                self._next()
            elif kind not in _STARTS:
                break
            children.append(self._unary(fields, depth))
        return children[0] if len(children) == 1 else And(tuple(children))

    def _unary(self, fields: frozenset[str], depth: int) -> Node:
        negations = 0
        while self._peek().kind == "NOT":  # a loop, not recursion: NOT NOT ... cannot overflow
            self._next()
            negations += 1
        node = self._near(fields, depth)
        return Not(node) if negations % 2 else node

    def _near(self, fields: frozenset[str], depth: int) -> Node:
        left = self._primary(fields, depth)
        if self._peek().kind != "NEAR":
            return left
        near = self._next()
        right = self._primary(fields, depth)
        if not isinstance(left, Term) or not isinstance(right, Term):
            raise QuerySyntaxError(
                f"{near.source} needs a term, phrase or wildcard on each side", near.column
            )
        shared = left.fields & right.fields
        if not shared:
            raise QuerySyntaxError(
                f"the two sides of {near.source} search different fields", near.column
            )
        if self._peek().kind == "NEAR":
            raise QuerySyntaxError(
                "NEAR cannot be chained: join NEAR expressions with AND", self._peek().column
            )
        return Near(left, right, near.distance, shared)

    def _primary(self, fields: frozenset[str], depth: int, prefix: str = "") -> Node:
        token = self._next()
        if token.kind == "(":
            if depth >= MAX_DEPTH:
                raise QuerySyntaxError(
                    f"parentheses are nested more than {MAX_DEPTH} deep", token.column
                )
            if self._peek().kind == ")":
                raise QuerySyntaxError("empty parentheses", token.column)
            if self._peek().kind == "END":
                raise QuerySyntaxError("unbalanced parenthesis", token.column)
            node = self._or(fields, depth + 1)
            if self._peek().kind != ")":
                raise QuerySyntaxError("unbalanced parenthesis", token.column)
            self._next()
            return node
        if token.kind == "FIELD":
            following = self._peek()
            if following.kind == "FIELD":
                raise QuerySyntaxError(
                    f"{token.source} cannot be followed by another field", following.column
                )
            if following.kind not in ("TERM", "PHRASE", "EXACT", "CONCEPT", "("):
                raise QuerySyntaxError(
                    f"{token.source} must be followed by a term, phrase or group", token.column
                )
            return self._primary(frozenset({token.value}), depth, prefix=token.source)
        if token.kind in _TERMS:
            return self._term(token, fields, prefix)
        if token.kind == "CONCEPT":
            return self._concept(token, fields)
        raise self._missing_term(token)

    def _concept(self, token: Token, fields: frozenset[str]) -> Node:
        """`@name`: the OR of the concept's entries, in `fields` (see the module docstring)."""
        self._count(token)
        name = token.value
        entries = self._concepts.get(name)
        if entries is None:
            raise QuerySyntaxError(f"unknown concept {token.source}", token.column)
        if isinstance(entries, str):  # a lone string is a sequence too: not what was meant
            entries = (entries,)
        if not entries:
            raise QuerySyntaxError(f"the concept {token.source} has no entries", token.column)
        if len(entries) > MAX_CONCEPT_ENTRIES:
            raise QuerySyntaxError(
                f"the concept {token.source} has more than {MAX_CONCEPT_ENTRIES} entries",
                token.column,
            )
        terms: list[Node] = []
        for entry in entries:
            try:
                terms.append(_entry_term(entry, fields))
            except QuerySyntaxError as error:
                raise QuerySyntaxError(
                    f"the concept {token.source}, entry {entry!r}: {error.message}", token.column
                ) from error
        if len(terms) == 1:
            return terms[0]
        node = Or(tuple(terms))
        self._expanded[id(node)] = node  # kept, so that no other node can reuse the id
        return node

    def _count(self, token: Token) -> None:
        self._terms += 1
        if self._terms > MAX_TERMS:
            raise QuerySyntaxError(f"the query has more than {MAX_TERMS} terms", token.column)

    def _missing_term(self, token: Token) -> QuerySyntaxError:
        previous = self._previous()
        if previous is None or previous.kind == "(":
            if token.kind == ")":
                return QuerySyntaxError("unbalanced parenthesis", token.column)
            return QuerySyntaxError(f"missing a term before {token.source}", token.column)
        return QuerySyntaxError(f"missing a term after {previous.source}", previous.column)

    def _term(self, token: Token, fields: frozenset[str], prefix: str) -> Term:
        self._count(token)
        return _term(token, fields, prefix)


@functools.lru_cache(maxsize=4096)  # the same concepts recur across thousands of watchlists
def _entry_term(entry: str, fields: frozenset[str]) -> Term:
    """One concept entry as a term in `fields`, labelled as written; columns are the entry's."""
    tokens = lex(entry.strip())
    if tokens[0].kind == "END":
        raise QuerySyntaxError("the entry is empty", 1)
    if tokens[0].kind not in _TERMS or tokens[1].kind != "END":
        raise QuerySyntaxError(
            'an entry is one term, "quoted phrase", `exact term` or wildcard, without operators',
            tokens[0].column,
        )
    return _term(tokens[0], fields, "")


def _term(token: Token, fields: frozenset[str], prefix: str) -> Term:
    case_sensitive = token.kind == "EXACT"
    if token.kind == "TERM":
        words = _chunk_words(token.value, token.column, case_sensitive)
    else:
        words = []
        for chunk in re.finditer(r"\S+", token.value):
            column = token.column + 1 + chunk.start()
            words.extend(_chunk_words(chunk.group(), column, case_sensitive))
    if not words:
        what = "term" if token.kind == "TERM" else "phrase"
        raise QuerySyntaxError(
            f"the {what} {token.source} has no letters or digits to search for", token.column
        )
    return Term(prefix + token.source, tuple(words), fields, case_sensitive, token.column)


def _chunk_words(chunk: str, column: int, case_sensitive: bool) -> list[Word]:
    """The words of one space-free piece of a term, the last one a prefix if it ends in *."""
    words, problem = _words_of(chunk, case_sensitive)
    if problem is not None:
        reason, offset = problem
        raise QuerySyntaxError(reason, column + offset)
    return list(words)


# The same pieces recur across the queries of a large config (a few thousand words among
# 100,000 queries), so each one's words are worked out once; bounded, the cache stays small.
@functools.lru_cache(maxsize=1 << 16)
def _words_of(chunk: str, case_sensitive: bool) -> tuple[tuple[Word, ...], tuple[str, int] | None]:
    """`_chunk_words` without the column: the words, or the reason and the offset in `chunk`."""
    star = chunk.find("*")
    wildcard = star >= 0
    too_short = f"a wildcard needs at least {MIN_PREFIX} characters before *", star
    if wildcard:
        if star != len(chunk) - 1:
            return (), ("* is only allowed at the end of a word", star)
        chunk = chunk[:-1]
    words: list[Word] = []
    raw_words = tokenise(chunk)
    for index, raw in enumerate(raw_words):
        form = raw if case_sensitive else fold(raw)
        last = index == len(raw_words) - 1
        if wildcard and last and len(form) < MIN_PREFIX:
            return (), too_short
        if is_unspaced(raw):
            words.append(Word("substring", form))
        elif wildcard and last:
            words.append(Word("prefix", form))
        else:
            words.append(Word("word", stem(form)))
    if wildcard and not raw_words:
        return (), too_short
    return tuple(words), None
