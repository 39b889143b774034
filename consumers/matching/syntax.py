"""The syntax tree of a watchlist query, and its limits (pure values).

`parse.parse_query` builds these nodes; every other module reads them. A term's words are
already normalised by the word rules of `text` (folded unless backquoted, stemmed), so
evaluating a term is comparing its words with a document's words.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, TypeGuard

FIELDS = frozenset({"title", "summary", "feed", "link"})
DEFAULT_FIELDS = frozenset({"title", "summary"})
# A stable field order, so evaluation (and the first field found) does not depend on hashing.
FIELD_ORDER = ("title", "summary", "feed", "link")

MAX_QUERY_LENGTH = 2000
MAX_TERMS = 50
MAX_DEPTH = 20
MAX_NEAR = 50
MIN_PREFIX = 2


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a term, normalised for comparison with a document word.

    kind "word": equal to the stemmed word; "prefix": a prefix of the word or of its stem;
    "substring": inside an unspaced (CJK, Thai...) word.
    """

    kind: Literal["word", "prefix", "substring"]
    text: str


@dataclass(frozen=True, slots=True)
class Term:
    """A term, phrase or wildcard: its words must appear adjacent and in order in one field."""

    label: str  # as written in the query, with its own field prefix: 'title:fed', '"Hong Kong"'
    words: tuple[Word, ...]
    fields: frozenset[str]
    case_sensitive: bool
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Near:
    """Both terms in the same field with at most `distance` words between their nearest ends
    (1 means adjacent), in either order, at distinct positions."""

    left: Term
    right: Term
    distance: int
    fields: frozenset[str]


Node = Term | Not | And | Or | Near


def one_word(node: Node) -> TypeGuard[Term]:
    """A term of one word (plain, wildcard or unspaced): what a key lookup answers alone."""
    return isinstance(node, Term) and len(node.words) == 1


def terms(node: Node) -> Iterator[Term]:
    """Every term of a query in written order: both sides of a NEAR, and terms under a NOT."""
    if isinstance(node, Term):
        yield node
    elif isinstance(node, Near):
        yield node.left
        yield node.right
    elif isinstance(node, Not):
        yield from terms(node.child)
    else:
        for child in node.children:
            yield from terms(child)
