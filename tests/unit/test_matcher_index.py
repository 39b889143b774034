"""The indexed matcher returns exactly what the naive one does: every watchlist, term and field.

The naive matcher evaluates every query on a document tokenised by `text.tokenise`; the
indexed one tokenises faster, selects candidates from a term index and filters them by
required clauses. Any unsound shortcut shows up here as a missing or extra hit.
"""

from __future__ import annotations

import gc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.matching import Document, Hit, compile_naive, compile_watchlists
from consumers.matching import matcher as matcher_module
from consumers.matching.text import tokenise, tokenise_fast

# Words chosen to exercise stems (companies/company, classes, us, news), accents (été),
# acronyms, and unspaced runs that contain one another.
VOCAB = [
    "china", "company", "companies", "rate", "cut", "us", "ico", "bank", "hong", "kong",
    "fed", "été", "ete", "news", "class", "classes", "token", "crisis", "city", "cities",
]  # fmt: skip
CJK = ["中国", "人民", "银行", "中国人民银行", "人民币"]
SEPARATORS = [" ", ", ", "-", ". ", " — ", "/", " (", ") ", "’", "'", "“", "\u00a0", "\n"]
FIELDS = ["title", "summary", "feed", "link"]


def spelled() -> st.SearchStrategy[str]:
    """A vocabulary word as an article might spell it."""
    latin = st.tuples(
        st.sampled_from(VOCAB),
        st.sampled_from([str.lower, str.upper, str.title]),
        st.sampled_from(["", "s", "es", "'s", "’s", "'", "ing", "ＳＳ"]),
        st.sampled_from(["", "", "re", "x"]),
    ).map(lambda t: t[3] + t[1](t[0]) + t[2])
    return st.one_of(latin, st.sampled_from(CJK), st.sampled_from(["d'Ivoire", "rock’n’roll"]))


def texts() -> st.SearchStrategy[str]:
    pieces = st.lists(st.tuples(spelled(), st.sampled_from(SEPARATORS)), max_size=14)
    return pieces.map(lambda items: "".join(word + sep for word, sep in items))


def documents() -> st.SearchStrategy[Document]:
    return st.builds(Document, texts(), texts(), texts(), texts())


def terms() -> st.SearchStrategy[str]:
    case = st.sampled_from([str.lower, str.upper, str.title])
    word = st.tuples(st.sampled_from(VOCAB), case).map(lambda t: t[1](t[0]))
    prefix = st.tuples(st.sampled_from(VOCAB), st.integers(2, 6)).map(
        lambda t: t[0][: max(2, min(t[1], len(t[0])))] + "*"
    )
    phrase = st.lists(st.one_of(word, prefix), min_size=2, max_size=3).map(
        lambda words: '"' + " ".join(words) + '"'
    )
    exact = st.sampled_from(["`ICO`", "`US`", "`China`", "`Fed*`", "`Hong Kong`", "`中国`"])
    return st.one_of(word, prefix, phrase, exact, st.sampled_from(CJK))


def scoped() -> st.SearchStrategy[str]:
    field = st.sampled_from(["", "", "title:", "summary:", "feed:", "link:"])
    return st.tuples(field, terms()).map("".join)


def queries() -> st.SearchStrategy[str]:
    near = st.tuples(terms(), st.integers(1, 6), terms()).map(
        lambda t: f"{t[0]} NEAR/{t[1]} {t[2]}"
    )
    leaves = st.one_of(scoped(), near)

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        negation = children.map(lambda q: f"NOT ({q})")
        binary = st.tuples(children, st.sampled_from([" AND ", " OR ", " "]), children).map(
            lambda t: f"({t[0]}{t[1]}{t[2]})"
        )
        scope = st.tuples(st.sampled_from(FIELDS), children).map(lambda t: f"{t[0]}:({t[1]})")
        return st.one_of(negation, binary, scope)

    return st.recursive(leaves, extend, max_leaves=8)


def explained(hits: list[Hit]) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return [(hit.watchlist, hit.terms, hit.fields) for hit in hits]


@settings(max_examples=300, deadline=None)
@given(
    watchlists=st.lists(queries(), min_size=1, max_size=12), docs=st.lists(documents(), max_size=4)
)
def test_indexed_matcher_equals_naive_matcher(watchlists: list[str], docs: list[Document]) -> None:
    named = [(f"w{i}", query) for i, query in enumerate(watchlists)]
    indexed, naive = compile_watchlists(named), compile_naive(named)
    assert indexed.watchlists == naive.watchlists
    for doc in docs:
        # one matcher serves many documents: caches must not leak between them
        assert explained(indexed.match(doc)) == explained(naive.match(doc))


def word_groups() -> st.SearchStrategy[str]:
    """OR and AND groups of one-word terms (words, wildcards, backquoted, unspaced) sharing a
    field or not: the shapes the index accepts outright or decides with one set test."""
    one_word = st.one_of(
        st.sampled_from(VOCAB),
        st.sampled_from(VOCAB).map(lambda w: w[:3] + "*"),
        st.sampled_from(["`ICO`", "`US`", "`Fed*`", "`中国`"]),
        st.sampled_from(CJK),
    )
    group = st.tuples(
        st.sampled_from(["", "title:", "summary:", "link:"]),
        st.lists(one_word, min_size=1, max_size=5),
        st.sampled_from([" OR ", " AND ", " "]),
    ).map(lambda t: f"{t[0]}({t[2].join(t[1])})")
    mixed = st.tuples(group, st.sampled_from([" OR ", " AND ", " NOT "]), scoped()).map("".join)
    return st.one_of(group, mixed)


@settings(max_examples=300, deadline=None)
@given(
    watchlists=st.lists(word_groups(), min_size=1, max_size=20),
    docs=st.lists(documents(), min_size=1, max_size=4),
)
def test_word_groups_match_as_the_naive_matcher_says(
    watchlists: list[str], docs: list[Document]
) -> None:
    named = [(f"w{i}", query) for i, query in enumerate(watchlists)]
    indexed, naive = compile_watchlists(named), compile_naive(named)
    for doc in docs:
        assert explained(indexed.match(doc)) == explained(naive.match(doc))


# Latin-1 letters and signs that NFKC rewrites (ª ² µ ´ ¨, no-break space), typographic
# punctuation, both apostrophes, possessive s in either case, underscore, a combining mark.
LATIN = "aAsSéÿß'’´¨ª²µ\u00a0“”‘–—…‑€_1 中\u0301İ"


@settings(max_examples=500, deadline=None)
@given(
    text=st.one_of(
        texts(),
        st.text(),
        st.text(alphabet="aé's’ß\u0301İ中ＡＢ- "),
        st.text(alphabet=LATIN),
        st.text(alphabet="aAsS1' -"),  # possessives in plain ASCII text
        # Latin-1 text split byte by byte: possessives, signs NFKC changes, typography
        st.text(alphabet="aAsSé1'’ºª²½\u00a0·–“€…?\x00-"),
    )
)
def test_fast_tokeniser_splits_exactly_like_the_reference(text: str) -> None:
    assert tokenise_fast(text) == tokenise(text)


@pytest.mark.parametrize(
    "text",
    ["a's's", "it's'", "x’s5", "a''s", "investors' €5", "Côte d’Ivoire’s 2º turno", "…’s"],
)
def test_fast_tokeniser_removes_possessives_like_the_reference(text: str) -> None:
    assert tokenise_fast(text) == tokenise(text)


def test_candidate_count_shows_how_many_queries_a_document_brings_into_play() -> None:
    matcher = compile_watchlists(
        [("a", "gold"), ("b", "china AND gold"), ("c", "NOT bitcoin"), ("d", '"rate cut"')]
    )
    assert matcher.candidate_count(Document("China buys gold", "")) == 3
    assert matcher.candidate_count(Document("Nothing to see", "")) == 1


def test_a_phrase_or_and_is_not_a_candidate_without_both_of_its_rarest_words() -> None:
    matcher = compile_watchlists([("p", '"rate cut"'), ("a", "yuan AND bank")])
    assert matcher.candidate_count(Document("Rate", "the bank")) == 0
    assert matcher.candidate_count(Document("Rate", "a cut; yuan, bank")) == 2


def test_an_and_of_or_groups_or_an_or_with_a_phrase_needs_a_word_of_each_group() -> None:
    matcher = compile_watchlists(
        [("g", "(gold OR silver) AND (china OR india)"), ("p", '(yuan OR "rate cut") NOT bitcoin')]
    )
    assert matcher.candidate_count(Document("Gold rises", "as the rate holds")) == 0
    doc = Document("Gold rises in India", "after a rate cut")
    assert matcher.candidate_count(doc) == 2
    assert matcher.match(doc) == [Hit("g", ("gold", "india")), Hit("p", ('"rate cut"',))]
    assert [hit.fields for hit in matcher.match(doc)] == [("title", "title"), ("summary",)]


def test_hits_say_which_field_each_term_matched_in() -> None:
    matcher = compile_watchlists([("w", 'yuan OR title:China OR "rate cut" OR link:ico')])
    doc = Document(
        title="China holds rates",
        summary="The yuan slid; a rate cut looms",
        link="https://example.org/ico-news",
    )
    [hit] = matcher.match(doc)
    assert hit.explain() == (
        ("yuan", "summary"),
        ("title:China", "title"),
        ('"rate cut"', "summary"),
        ("link:ico", "link"),
    )


def test_a_term_is_explained_by_the_first_field_it_occurs_in() -> None:
    [hit] = compile_watchlists([("w", "fed")]).match(Document("Fed holds", "the Fed said"))
    assert hit.fields == ("title",)


def test_hits_built_by_hand_still_compare_equal_to_matched_ones() -> None:
    matched = compile_watchlists([("w", "china")]).match(Document("China", ""))
    assert matched == [Hit("w", ("china",))]
    assert Hit("w", ("china",)).fields == ()


def test_queries_without_a_required_word_run_for_every_document() -> None:
    matcher = compile_watchlists(
        [("none", "NOT bitcoin"), ("either", "NOT bitcoin OR ether"), ("word", "bitcoin")]
    )
    assert matcher.always_evaluated == 2
    assert [hit.watchlist for hit in matcher.match(Document("Gold rises", ""))] == [
        "none",
        "either",
    ]
    assert [hit.watchlist for hit in matcher.match(Document("Bitcoin ether", ""))] == [
        "either",
        "word",
    ]


def test_many_watchlists_sharing_words_come_back_in_config_order() -> None:
    named = [(f"w{i}", q) for i, q in enumerate(["gold", "china", "gold AND china", "gold*"] * 50)]
    hits = compile_watchlists(named).match(Document("China buys gold", ""))
    assert [hit.watchlist for hit in hits] == [name for name, _ in named]


def test_a_replaced_matcher_leaves_no_cycles_behind() -> None:
    # A large matcher is frozen out of the cycle collector (gc_policy), so anything of
    # it caught in a reference cycle would never be freed: every reload would leak it.
    queries = [
        "gold OR silver",
        "China AND yuan*",
        '"rate cut" NOT fed',
        "fed NEAR/3 cut*",
        "title:(`ICO` OR 中国)",
        "NOT bitcoin",
    ]
    docs = [Document("China cuts rates", "the yuan and gold; Fed cut"), Document("中国 ICO", "")]
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # so that no automatic pass collects a cycle before we count
    try:
        matcher = compile_watchlists([(f"w{i}", query) for i, query in enumerate(queries)])
        assert [len(matcher.match(doc)) for doc in docs] == [4, 2]
        del matcher
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


@pytest.mark.parametrize(
    ("query", "doc"),
    [
        ('"rate cut"', Document("Rate rate cut", "")),  # the first word twice
        ('"rate cut"', Document("rate", "cut rates")),  # words split across fields
        ('"rate cut"', Document("a cut rate", "the rate cuts")),  # only the second field
        ('"cut rate"', Document("they cut", "")),  # the field ends before the phrase does
        ('"fed cut*"', Document("Fed cuts", "fed, cutting")),  # wildcard, punctuation between
        ('"cit* news"', Document("cities news", "")),  # wildcard on the stem (city)
        ('"中国 银行"', Document("中国人民 银行业", "")),  # unspaced substrings, in order
        ('`"Hong Kong"`', Document("hong kong", "Hong Kong")),  # as written, not folded
        ('summary:"rate cut" OR link:"rate cut"', Document("rate cut", "", "", "x/rate-cut")),
        ('NOT "rate cut"', Document("rate cut", "")),  # under NOT: answered, never reported
    ],
)
def test_phrases_match_as_the_naive_matcher_says(query: str, doc: Document) -> None:
    named = [("w", query)]
    assert explained(compile_watchlists(named).match(doc)) == explained(
        compile_naive(named).match(doc)
    )


@pytest.mark.parametrize(
    ("query", "doc"),
    [
        # The children of a top-level OR are matched on their own and their Hits joined: the
        # terms must come back in written order, each once, at the field the OR would name.
        ("yuan OR gold OR china", Document("China buys gold", "yuan slides")),
        ('"rate cut" OR fed OR (china AND gold)', Document("Fed rate cut", "China, gold")),
        ("fed OR Fed OR fed", Document("the Fed", "fed")),  # one key, three labels, repeats
        ("china OR (china AND gold) OR title:gold", Document("gold", "China gold")),
        ("gold OR NOT bitcoin OR summary:yuan*", Document("gold", "yuan")),  # NOT: no term
        ("NOT gold OR NOT fed", Document("gold", "")),
        ("silver OR (gold OR (yuan OR china))", Document("China", "gold yuan")),  # nested ORs
        ("cut* NEAR/2 rate OR rate OR link:cut", Document("rates cut", "", "", "x/cut")),
    ],
)
def test_or_parts_that_match_together_are_reported_as_the_naive_matcher_says(
    query: str, doc: Document
) -> None:
    named = [("before", "gold"), ("w", query), ("after", "china")]
    assert explained(compile_watchlists(named).match(doc)) == explained(
        compile_naive(named).match(doc)
    )


def test_hits_stay_right_when_the_hit_cache_starts_over(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same query explained differently by each document: a cache that kept a stale Hit,
    # or lost one when it was cleared, would show here.
    monkeypatch.setattr(matcher_module, "HIT_CACHE_LIMIT", 1)
    named = [("a", "gold OR yuan"), ("b", '"rate cut" OR fed')]
    indexed, naive = compile_watchlists(named), compile_naive(named)
    docs = [
        Document("Gold", "yuan"),
        Document("Yuan", "gold, rate cut"),
        Document("Fed", "gold"),
        Document("Gold", "yuan"),
    ]
    for doc in docs:
        assert explained(indexed.match(doc)) == explained(naive.match(doc))
