"""Concept references: `@name` in a query stands for the OR of a named set of entries."""

from __future__ import annotations

import pytest

from consumers.matching import (
    Document,
    Hit,
    QuerySyntaxError,
    WatchlistError,
    compile_naive,
    compile_watchlists,
    parse_query,
)
from consumers.matching.syntax import Or, Term

CONCEPTS = {
    "china_places": ["Beijing", '"Hong Kong"', "Shangh*", "`PBoC`", "中国"],
    "yuan": ["yuan"],
}


def explained(query: str, doc: Document) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    hits = compile_watchlists([("w", query)], concepts=CONCEPTS).match(doc)
    naive = compile_naive([("w", query)], concepts=CONCEPTS).match(doc)
    got = [(hit.watchlist, hit.terms, hit.fields) for hit in hits]
    assert got == [(hit.watchlist, hit.terms, hit.fields) for hit in naive]
    return got


def test_a_concept_is_the_or_of_its_entries_each_reported_as_written() -> None:
    doc = Document("Hong Kong and Beijing", "the PBoC in Shanghai")
    assert explained("@china_places", doc) == [
        (
            "w",
            ("Beijing", '"Hong Kong"', "Shangh*", "`PBoC`"),
            ("title", "title", "summary", "summary"),
        )
    ]


def test_a_concept_in_an_or_joins_it() -> None:
    node = parse_query("China OR @china_places", CONCEPTS)
    assert isinstance(node, Or)
    assert [child.label for child in node.children if isinstance(child, Term)] == [
        "China", "Beijing", '"Hong Kong"', "Shangh*", "`PBoC`", "中国",
    ]  # fmt: skip
    doc = Document("China and Beijing", "")
    assert explained("China OR @china_places", doc) == [
        ("w", ("China", "Beijing"), ("title", "title"))
    ]


def test_a_concept_takes_the_field_where_it_stands() -> None:
    doc = Document("markets", "Beijing")
    assert explained("title:@china_places", doc) == []
    assert explained("summary:@china_places", doc) == [("w", ("Beijing",), ("summary",))]


def test_a_concept_under_not_and_in_and() -> None:
    assert explained("gold NOT @china_places", Document("gold in Beijing", "")) == []
    assert explained("gold NOT @china_places", Document("gold", "")) == [
        ("w", ("gold",), ("title",))
    ]
    assert explained("@yuan AND @china_places", Document("yuan", "中国人民银行")) == [
        ("w", ("yuan", "中国"), ("title", "summary"))
    ]


def test_a_one_entry_concept_is_a_term_and_may_stand_beside_near() -> None:
    assert parse_query("@yuan", CONCEPTS) == parse_query("yuan")
    assert explained("@yuan NEAR/3 cut*", Document("", "the yuan was cut")) == [
        ("w", ("yuan", "cut*"), ("summary", "summary"))
    ]


def test_the_same_concept_serves_many_watchlists() -> None:
    matcher = compile_watchlists(
        [("a", "@china_places"), ("b", "gold OR @china_places"), ("c", "@yuan")],
        concepts=CONCEPTS,
    )
    assert matcher.match(Document("gold", "Beijing")) == [
        Hit("a", ("Beijing",)),
        Hit("b", ("gold", "Beijing")),
    ]


@pytest.mark.parametrize(
    ("query", "concepts", "message", "column"),
    [
        ("China OR @nowhere", CONCEPTS, "unknown concept @nowhere", 10),
        ("@china_places", None, "unknown concept @china_places", 1),
        ("a @x's", CONCEPTS, "@x's is not a concept name", 3),
        ("a @empty", {"empty": []}, "the concept @empty has no entries", 3),
        ("@c", {"c": ["rate cut"]}, "the concept @c, entry 'rate cut': an entry is one term", 1),
        ("@c", {"c": ["a OR b"]}, "the concept @c, entry 'a OR b'", 1),
        ("@c", {"c": ["@d"], "d": ["x"]}, "the concept @c, entry '@d'", 1),
        ("@c", {"c": ["ra*te"]}, "* is only allowed at the end of a word", 1),
        ("@c", {"c": ["  "]}, "the concept @c, entry '  ': the entry is empty", 1),
        ("x @c", {"c": ["title:fed"]}, "the concept @c, entry 'title:fed'", 3),
    ],
)
def test_bad_concept_references_name_the_concept_and_the_column(
    query: str, concepts: dict[str, list[str]] | None, message: str, column: int
) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query, concepts)
    assert message in caught.value.message
    assert caught.value.column == column


def test_a_watchlist_error_names_the_watchlist_the_concept_and_the_column() -> None:
    with pytest.raises(WatchlistError) as caught:
        compile_watchlists([("ok", "@yuan"), ("asia", "China OR @asia")], concepts=CONCEPTS)
    assert str(caught.value) == "watchlist 'asia': column 10: unknown concept @asia"


def test_a_reference_counts_as_one_term_and_an_at_sign_alone_is_still_a_term() -> None:
    parse_query(" OR ".join(["@china_places"] * 50), CONCEPTS)
    with pytest.raises(QuerySyntaxError, match="more than 50 terms"):
        parse_query(" OR ".join(["@china_places"] * 51), CONCEPTS)
    at_sign = parse_query('"@ home"')
    assert isinstance(at_sign, Term)
    assert at_sign.words == parse_query("home").words  # type: ignore[union-attr]
