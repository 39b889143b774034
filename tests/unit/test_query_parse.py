"""Parsing watchlist queries: structure, precedence, fields, and errors with their column."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.matching import Document, QuerySyntaxError, compile_watchlists, parse_query
from consumers.matching.syntax import And, Near, Node, Not, Or, Term


def show(node: Node) -> str:
    """A compact rendering of the tree, so expectations read like the query."""
    if isinstance(node, Term):
        fields = "" if node.fields == {"title", "summary"} else "@" + "+".join(sorted(node.fields))
        return node.label + fields
    if isinstance(node, Not):
        return f"(NOT {show(node.child)})"
    if isinstance(node, Near):
        return f"(NEAR/{node.distance} {show(node.left)} {show(node.right)})"
    operator = "AND" if isinstance(node, And) else "OR"
    assert isinstance(node, And | Or)
    return f"({operator} {' '.join(show(child) for child in node.children)})"


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("China", "China"),
        ("China OR Chinese", "(OR China Chinese)"),
        ("fed rate", "(AND fed rate)"),
        ("fed AND rate", "(AND fed rate)"),
        # adjacency and AND bind tighter than OR
        ("a b OR c", "(OR (AND a b) c)"),
        ("a OR b c", "(OR a (AND b c))"),
        ("a AND b OR c AND d", "(OR (AND a b) (AND c d))"),
        # NOT binds tightest
        ("a NOT b", "(AND a (NOT b))"),
        ("NOT a OR b", "(OR (NOT a) b)"),
        ("NOT (a OR b)", "(NOT (OR a b))"),
        ("NOT foo", "(NOT foo)"),
        ("NOT NOT foo", "foo"),
        ("(a OR b) c", "(AND (OR a b) c)"),
        ("((a))", "a"),
        # lowercase operators are ordinary words
        ("rock and roll", "(AND rock and roll)"),
        ("or not", "(AND or not)"),
        ('"Hong Kong" OR yuan', '(OR "Hong Kong" yuan)'),
        ("“Hong Kong”", "“Hong Kong”"),
        ("`ICO` OR ico", "(OR `ICO` ico)"),
        ("cut*", "cut*"),
        ("fed NEAR/5 cut*", "(NEAR/5 fed cut*)"),
        ('"rate cut" NEAR/3 fed', '(NEAR/3 "rate cut" fed)'),
        ("a NEAR/2 b c", "(AND (NEAR/2 a b) c)"),
        ("NOT a NEAR/2 b", "(NOT (NEAR/2 a b))"),
        # fields apply to the next term, phrase or group; the innermost one wins
        ("title:fed cut", "(AND title:fed@title cut)"),
        ("title: fed", "title:fed@title"),
        ("Title:fed", "title:fed@title"),
        ('summary:"rate cut"', 'summary:"rate cut"@summary'),
        ("feed:coindesk", "feed:coindesk@feed"),
        ("link:(coindesk OR decrypt)", "(OR coindesk@link decrypt@link)"),
        ("title:(a summary:b)", "(AND a@title summary:b@summary)"),
        ("title:fed NEAR/3 cut", "(NEAR/3 title:fed@title cut)"),
        ("link:https://www.coindesk.com/x", "link:https://www.coindesk.com/x@link"),
        # a colon that is not a field stays part of the term
        ("Note: China", "(AND Note: China)"),
        ("10:30", "10:30"),
        ("中国", "中国"),
        ("中国 OR 日本銀行", "(OR 中国 日本銀行)"),
    ],
)
def test_valid_queries_parse_to_the_expected_tree(query: str, tree: str) -> None:
    assert show(parse_query(query)) == tree


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("China's", [("word", "china")]),
        ("ICOs", [("word", "ico")]),
        ("`ICOs`", [("word", "ICO")]),
        ("Hong-Kong", [("word", "hong"), ("word", "kong")]),
        ('"hong kong"', [("word", "hong"), ("word", "kong")]),
        ("Été", [("word", "ete")]),
        ("ＣＨＩＮＡ", [("word", "china")]),
        ("cut*", [("prefix", "cut")]),
        ("Cuts*", [("prefix", "cuts")]),
        ('"fed cut*"', [("word", "fed"), ("prefix", "cut")]),
        ("中国", [("substring", "中国")]),
        ("iPhone手机", [("word", "iphone"), ("substring", "手机")]),
    ],
)
def test_terms_are_normalised_like_text(query: str, words: list[tuple[str, str]]) -> None:
    term = parse_query(query)
    assert isinstance(term, Term)
    assert [(word.kind, word.text) for word in term.words] == words


def test_backquoted_terms_are_case_sensitive_and_others_are_not() -> None:
    tree = parse_query("`ICO` ico")
    assert isinstance(tree, And)
    assert [child.case_sensitive for child in tree.children if isinstance(child, Term)] == [
        True,
        False,
    ]


def test_near_searches_the_fields_both_sides_share() -> None:
    tree = parse_query("title:fed NEAR/3 cut")
    assert isinstance(tree, Near)
    assert tree.fields == {"title"}


@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        ("", 1, "the query is empty"),
        ("   ", 1, "the query is empty"),
        ("(China", 1, "unbalanced parenthesis"),
        ("China)", 6, "unbalanced parenthesis"),
        ("a OR (b AND (c)", 6, "unbalanced parenthesis"),
        (")", 1, "unbalanced parenthesis"),
        ("()", 1, "empty parentheses"),
        ("China AND", 7, "missing a term after AND"),
        ("AND China", 1, "missing a term before AND"),
        ("a OR OR b", 3, "missing a term after OR"),
        ("(OR b)", 2, "missing a term before OR"),
        ("a (b OR)", 6, "missing a term after OR"),
        ("NOT", 1, "missing a term after NOT"),
        ('"Hong Kong', 1, "unterminated quote"),
        ("a `ICO", 3, "unterminated backquote"),
        ('""', 1, "no letters or digits"),
        ("&&", 1, "the term && has no letters or digits"),
        ("c*", 2, "a wildcard needs at least 2 characters before *"),
        ("a OR *", 6, "a wildcard needs at least 2 characters before *"),
        ('"fed c*"', 7, "a wildcard needs at least 2 characters before *"),
        ("c*t", 2, "* is only allowed at the end of a word"),
        ("fed NEAR cut", 5, "NEAR needs a distance"),
        ("fed NEAR/x cut", 5, "NEAR needs a distance"),
        ("fed NEAR/0 cut", 5, "between 1 and 50"),
        ("fed NEAR/51 cut", 5, "between 1 and 50"),
        ("NEAR/5 cut", 1, "missing a term before NEAR/5"),
        ("fed NEAR/5", 5, "missing a term after NEAR/5"),
        ("(a OR b) NEAR/5 c", 10, "NEAR/5 needs a term, phrase or wildcard on each side"),
        ("a NEAR/5 NOT b", 3, "missing a term after NEAR/5"),
        ("a NEAR/2 b NEAR/2 c", 12, "NEAR cannot be chained"),
        ("title:a NEAR/3 summary:b", 9, "the two sides of NEAR/3 search different fields"),
        ("author:smith", 1, "unknown field 'author'"),
        ("x OR author:(a b)", 6, "unknown field 'author'"),
        ("title:summary:fed", 7, "cannot be followed by another field"),
        ("title:", 1, "title: must be followed by a term, phrase or group"),
        ("title: NOT fed", 1, "title: must be followed by a term, phrase or group"),
    ],
)
def test_invalid_queries_report_the_column(query: str, column: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert caught.value.column == column
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def _nested(depth: int) -> str:
    return "(" * depth + "a" + ")" * depth


def _terms(count: int) -> str:
    return " OR ".join(f"t{i}" for i in range(count))


@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        ("a " * 1000 + "b", 2001, "longer than 2000 characters"),
        (_terms(51), _terms(51).index("t50") + 1, "more than 50 terms"),
        (_nested(21), 21, "nested more than 20 deep"),
    ],
)
def test_abusive_queries_are_rejected(query: str, column: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert caught.value.column == column
    assert message in caught.value.message


@pytest.mark.parametrize(
    "query",
    [
        "x" * 2000,
        _terms(50),
        _nested(20),
        "fed NEAR/1 cut",
        "fed NEAR/50 cut",
        "cu*",
        "NOT " * 400 + "x",  # long NOT chains are a loop in the parser, not recursion
    ],
)
def test_queries_at_the_limits_are_accepted(query: str) -> None:
    parse_query(query)


def test_query_syntax_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unbalanced parenthesis"):
        parse_query("(a")


QUERY_PIECES = st.sampled_from(
    [
        "China",
        "ico",
        "`ICO`",
        '"Hong Kong"',
        '"',
        "`",
        "(",
        ")",
        "AND",
        "OR",
        "NOT",
        "NEAR/3",
        "NEAR/0",
        "NEAR",
        "cut*",
        "c*",
        "*",
        "title:",
        "link:",
        "author:",
        "中国",
        "&",
        "-",
        "'s",
    ]
)


@settings(max_examples=500, deadline=None)
@given(pieces=st.lists(QUERY_PIECES, max_size=25), separators=st.lists(st.sampled_from(" \t(")))
def test_any_query_parses_or_fails_with_a_column(pieces: list[str], separators: list[str]) -> None:
    query = "".join(
        piece + (separators[i] if i < len(separators) else " ") for i, piece in enumerate(pieces)
    )
    try:
        parse_query(query)
    except QuerySyntaxError as error:
        assert 1 <= error.column <= len(query) + 1
        assert error.message and "\n" not in error.message
    else:  # whatever parses also evaluates
        matcher = compile_watchlists([("w", query)])
        matcher.match(Document(title="China's ICO: 中国 cuts", summary="Hong Kong", link="x"))


@settings(max_examples=300, deadline=None)
@given(query=st.text(max_size=200))
def test_arbitrary_text_parses_or_fails_with_a_column(query: str) -> None:
    try:
        parse_query(query)
    except QuerySyntaxError as error:
        assert 1 <= error.column <= len(query) + 1
