"""The lexer of the watchlist query language: query text -> tokens (pure, no I/O).

Operators are uppercase words (AND, OR, NOT, NEAR/N); a field prefix (title:, summary:,
feed:, link:) is its own token; "phrases" and `backquoted terms` run to their closing mark;
`@name` is a concept reference; any other run of non-space text is a term. `parse` builds the
syntax tree from the tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from consumers.matching.errors import QuerySyntaxError
from consumers.matching.syntax import FIELDS, MAX_NEAR

TokenKind = Literal[
    "(", ")", "AND", "OR", "NOT", "NEAR", "FIELD", "TERM", "PHRASE", "EXACT", "CONCEPT", "END"
]
_OPERATORS: dict[str, TokenKind] = {"AND": "AND", "OR": "OR", "NOT": "NOT"}
_TERM_STOP = frozenset('()"\u201c`')
_FIELD_PREFIX = re.compile(r"([A-Za-z]+):")
_NEAR = re.compile(r"NEAR/([0-9]{1,6})")
_CONCEPT_START = re.compile(r"@[^\W]")  # "@" then a letter, digit or underscore
_CONCEPT = re.compile(r"@([^\W][\w-]*)")


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    source: str  # as written
    column: int  # 1-based
    value: str = ""  # phrase or backquote content, field name
    distance: int = 0


def lex(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        column = i + 1
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(Token("(" if char == "(" else ")", char, column))
            i += 1
        elif char in '"\u201c`':
            closers = "`" if char == "`" else '"\u201d'
            end = next((j for j in range(i + 1, n) if text[j] in closers), -1)
            if end < 0:
                what = "backquote" if char == "`" else "quote"
                raise QuerySyntaxError(
                    f"unterminated {what}: the closing {closers[0]} is missing", column
                )
            kind: TokenKind = "EXACT" if char == "`" else "PHRASE"
            tokens.append(Token(kind, text[i : end + 1], column, value=text[i + 1 : end]))
            i = end + 1
        else:
            end = i
            while end < n and not text[end].isspace() and text[end] not in _TERM_STOP:
                end += 1
            i = _lex_word(text, i, end, tokens)
    tokens.append(Token("END", "end of query", n + 1))
    return tokens


def _lex_word(text: str, start: int, end: int, tokens: list[Token]) -> int:
    """Lex one run of non-space text; return where lexing continues."""
    word = text[start:end]
    column = start + 1
    field = _FIELD_PREFIX.match(word)
    if field and not word[field.end() :].startswith("//"):  # "https://" is not a field
        name = field.group(1).lower()
        followed = field.end() < len(word) or (end < len(text) and text[end] in _TERM_STOP)
        if name in FIELDS:
            tokens.append(Token("FIELD", f"{name}:", column, value=name))
            return start + field.end()
        if followed:
            raise QuerySyntaxError(
                f"unknown field {field.group(1)!r}: use title, summary, feed or link", column
            )
    if _CONCEPT_START.match(word):
        concept = _CONCEPT.fullmatch(word)
        if concept is None:
            raise QuerySyntaxError(
                f"{word} is not a concept name: use letters, digits, _ and - after @", column
            )
        tokens.append(Token("CONCEPT", word, column, value=concept.group(1)))
    elif word in _OPERATORS:
        tokens.append(Token(_OPERATORS[word], word, column))
    elif word == "NEAR" or word.startswith("NEAR/"):
        near = _NEAR.fullmatch(word)
        if near is None:
            raise QuerySyntaxError("NEAR needs a distance, like NEAR/5", column)
        distance = int(near.group(1))
        if not 1 <= distance <= MAX_NEAR:
            raise QuerySyntaxError(f"the NEAR distance must be between 1 and {MAX_NEAR}", column)
        tokens.append(Token("NEAR", word, column, distance=distance))
    else:
        tokens.append(Token("TERM", word, column, value=word))
    return end
