"""Properties of concept references (`@name`): the indexed matcher equals the reference
evaluator on queries with concepts, and `@name` means the parenthesised OR of its entries."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.matching import Document, Hit, compile_naive, compile_watchlists
from tests.unit.test_matcher_index import FIELDS, documents, scoped, terms

NAMES = ["places", "banks", "rates"]

Concepts = dict[str, list[str]]


def concept_sets() -> st.SearchStrategy[Concepts]:
    entries = st.lists(terms(), min_size=1, max_size=5)
    return st.fixed_dictionaries({name: entries for name in NAMES})


def queries() -> st.SearchStrategy[str]:
    """Queries of terms, phrases, NEAR and concept references, under fields, NOT, AND, OR."""
    near = st.tuples(terms(), st.integers(1, 6), terms()).map(
        lambda t: f"{t[0]} NEAR/{t[1]} {t[2]}"
    )
    field = st.sampled_from(["", "", "title:", "summary:", "feed:", "link:"])
    reference = st.tuples(field, st.sampled_from(NAMES)).map(lambda t: f"{t[0]}@{t[1]}")
    leaves = st.one_of(scoped(), near, reference, reference)

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        negation = children.map(lambda q: f"NOT ({q})")
        binary = st.tuples(children, st.sampled_from([" AND ", " OR ", " "]), children).map(
            lambda t: f"{t[0]}{t[1]}{t[2]}"
        )
        group = children.map(lambda q: f"({q})")
        scope = st.tuples(st.sampled_from(FIELDS), children).map(lambda t: f"{t[0]}:({t[1]})")
        return st.one_of(negation, binary, group, scope)

    return st.recursive(leaves, extend, max_leaves=6)


def explained(hits: list[Hit]) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return [(hit.watchlist, hit.terms, hit.fields) for hit in hits]


def written_out(query: str, concepts: Concepts) -> str:
    """The query with each `@name` replaced by the parenthesised OR of its entries."""
    for name in NAMES:  # no name is a prefix of another
        query = query.replace(f"@{name}", "(" + " OR ".join(concepts[name]) + ")")
    return query


@settings(max_examples=300, deadline=None)
@given(
    watchlists=st.lists(queries(), min_size=1, max_size=10),
    concepts=concept_sets(),
    docs=st.lists(documents(), min_size=1, max_size=4),
)
def test_indexed_matcher_equals_the_reference_on_queries_with_concepts(
    watchlists: list[str], concepts: Concepts, docs: list[Document]
) -> None:
    named = [(f"w{i}", query) for i, query in enumerate(watchlists)]
    indexed = compile_watchlists(named, concepts=concepts)
    naive = compile_naive(named, concepts=concepts)
    for doc in docs:
        assert explained(indexed.match(doc)) == explained(naive.match(doc))


@settings(max_examples=200, deadline=None)
@given(
    watchlists=st.lists(queries(), min_size=1, max_size=6),
    concepts=concept_sets(),
    docs=st.lists(documents(), min_size=1, max_size=3),
)
def test_a_reference_means_the_or_of_its_entries_written_out(
    watchlists: list[str], concepts: Concepts, docs: list[Document]
) -> None:
    named = [(f"w{i}", query) for i, query in enumerate(watchlists)]
    spelled = [(name, written_out(query, concepts)) for name, query in named]
    with_concepts = compile_watchlists(named, concepts=concepts)
    without = compile_watchlists(spelled)
    for doc in docs:
        assert explained(with_concepts.match(doc)) == explained(without.match(doc))
