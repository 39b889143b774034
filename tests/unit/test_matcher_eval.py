"""Evaluating compiled watchlists against articles: each language feature, as a reader sees it."""

from __future__ import annotations

import pytest

from consumers.matching import Document, Hit, WatchlistError, compile_watchlists


def matches(query: str, doc: Document) -> bool:
    return bool(compile_watchlists([("w", query)]).match(doc))


def title(text: str) -> Document:
    return Document(title=text, summary="")


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        # whole words, any case, possessives and plurals folded
        ("China", "China cuts rates", True),
        ("China", "china's central bank", True),
        ("China", "CHINA’S EXPORTS", True),
        ("China", "ＣＨＩＮＡ exports", True),
        ("China", "Chinatown opens", False),
        ("China", "Indochina war", False),
        ("ICO", "ICOs are back", True),
        ("ICO", "the ICO's token sale", True),
        ("ICO", "Information Commissioner's Office fines bank", False),
        ("ICOs", "an ICO raised $5m", True),
        ("rate", "Rates rise", True),
        ("rates", "rate rises", True),
        ("rate", "pirate radio", False),
        ("rate", "rated highly", False),
        ("cut", "three cuts", True),
        ("us", "US jobs report", True),
        ("us", "use of funds", False),
        ("company", "companies report", True),
        ("Sao Paulo", "São Paulo stocks", True),
        ("São", "Sao Paulo stocks", True),
        # backquotes: case-sensitive, still whole words with plurals folded
        ("`ICO`", "ICO rules", True),
        ("`ICO`", "ICOs banned", True),
        ("`ICO`", "the ico is", False),
        ("`ICO`", "Ico rules", False),
        ("`ICO`", "ICONIC", False),
        ("`US`", "US inflation", True),
        ("`US`", "give us a break", False),
        ("`IC*`", "ICOs banned", True),
        ("`IC*`", "icos banned", False),
        ("`Hong Kong`", "Hong-Kong", True),
        ("`Hong Kong`", "hong kong", False),
        # phrases: adjacent, in order, each word folded
        ('"Hong Kong"', "Hong Kong dollar", True),
        ('"Hong Kong"', "hong-kong dollar", True),
        ('"Hong Kong"', "Kong Hong", False),
        ('"Hong Kong"', "Hong Fat Kong", False),
        ("Hong-Kong", "Hong Kong dollar", True),
        ("“Hong Kong”", "Hong Kong dollar", True),
        ('"Information Commissioner\'s Office"', "Information Commissioner’s Office fines", True),
        ('"Information Commissioner\'s Office"', "Information Office", False),
        ('"rate cuts"', "Rate cut expected", True),
        ('"U.S. dollar"', "the U.S. dollar fell", True),
        # boolean operators, adjacency, precedence
        ("fed rate", "Fed holds rate", True),
        ("fed rate", "Fed holds", False),
        ("fed AND rate", "rate and fed", True),
        ("fed OR ecb", "ECB meets", True),
        ("fed OR ecb", "BoE meets", False),
        ("fed NOT ecb", "Fed meets", True),
        ("fed NOT ecb", "Fed and ECB meet", False),
        ("NOT bitcoin", "Gold rallies", True),
        ("NOT bitcoin", "Bitcoin rallies", False),
        ("NOT (fed OR ecb)", "Fed meets", False),
        ("fed OR ecb boe", "ECB meets", False),
        ("fed OR ecb boe", "ECB and BoE meet", True),
        ("(fed OR ecb) boe", "Fed meets", False),
        # lowercase operators are words
        ("rock and roll", "Rock and Roll", True),
        ("rock and roll", "Rock n Roll", False),
        ("not", "not now", True),
        # trailing wildcard: prefix of a word
        ("cut*", "rate cutting", True),
        ("cut*", "cuts", True),
        ("cut*", "haircut", False),
        ("city*", "cities", True),
        ('"rate cut*"', "rate cutting cycle", True),
        ('"rate cut*"', "cutting rate", False),
        # proximity: within N words, either order, same field
        ("fed NEAR/5 cut*", "Fed is widely expected to cut", True),
        ("fed NEAR/5 cut*", "Cuts ahead, says the Fed", True),
        ("fed NEAR/3 cut*", "Fed is widely expected to cut", False),
        ("fed NEAR/1 cut", "Fed cut", True),
        ("fed NEAR/1 cut", "Fed will cut", False),
        ("fed NEAR/1 cut", "cut fed", True),
        ('"rate cut" NEAR/2 fed', "rate cut by Fed", True),
        ('"rate cut" NEAR/2 fed', "Fed said rate cut", True),
        ('"rate cut" NEAR/2 fed', "rate cut was not by the Fed", False),
        ("cut NEAR/2 cut*", "cuts", False),
        ("cut NEAR/2 cut*", "cut and cuts", True),
        # scripts written without spaces match inside words
        ("中国", "中国人民银行宣布降息", True),
        ("人民银行", "中国人民银行宣布降息", True),
        ("日本", "中国人民银行宣布降息", False),
        ("日本銀行", "日本銀行が利上げを決定", True),
        ("중국", "중국은 금리를 인하했다", True),
        ("ธนาคาร", "ธนาคารแห่งประเทศไทย", True),
        ("中国 yuan", "中国央行 yuan 贬值", True),
        ("GDP", "中国GDP增长", True),
        ("中国 NEAR/1 GDP", "中国GDP增长", True),
    ],
)
def test_language_features(query: str, text: str, expected: bool) -> None:
    assert matches(query, title(text)) is expected


@pytest.mark.parametrize(
    ("query", "doc", "expected"),
    [
        # unfielded terms search title and summary only
        ("fed", Document(title="Markets", summary="The Fed met"), True),
        ("coindesk", Document(title="Markets", summary="", feed="coindesk"), False),
        ("decrypt", Document(title="x", summary="", link="https://decrypt.co/a"), False),
        ("feed:coindesk", Document(title="x", summary="", feed="coindesk"), True),
        ("link:decrypt", Document(title="x", summary="", link="https://decrypt.co/a"), True),
        ('link:"decrypt.co"', Document(title="x", summary="", link="https://decrypt.co/a"), True),
        ("title:fed", Document(title="Fed meets", summary=""), True),
        ("title:fed", Document(title="Markets", summary="Fed meets"), False),
        ("summary:fed", Document(title="Fed meets", summary=""), False),
        ("title:(fed OR ecb)", Document(title="ECB meets", summary="Fed"), True),
        ("title:(fed OR ecb)", Document(title="Markets", summary="Fed, ECB"), False),
        ("title:(a summary:fed)", Document(title="a", summary="fed"), True),
        # NEAR never spans two fields
        ("fed NEAR/5 cut", Document(title="Fed", summary="cut"), False),
        ("title:fed NEAR/5 cut", Document(title="x", summary="Fed cut"), False),
        ("title:fed NEAR/5 cut", Document(title="Fed cut", summary=""), True),
        # phrases never span two fields
        ('"hong kong"', Document(title="Hong", summary="Kong"), False),
    ],
)
def test_fields(query: str, doc: Document, expected: bool) -> None:
    assert matches(query, doc) is expected


def test_hits_report_the_terms_found_in_query_order_without_repeats() -> None:
    matcher = compile_watchlists(
        [("china", 'China OR Chinese OR Beijing OR "Hong Kong" OR yuan OR PBoC OR China')]
    )
    doc = Document(title="Hong Kong stocks fall", summary="The yuan and Chinese banks; China.")
    assert matcher.match(doc) == [Hit("china", ("China", "Chinese", '"Hong Kong"', "yuan"))]


@pytest.mark.parametrize(
    ("query", "text", "terms"),
    [
        ("fed NOT bitcoin", "Fed meets", ("fed",)),
        ("(fed AND cut) OR yuan", "Fed and the yuan", ("yuan",)),
        ("title:fed OR `ICO` OR cut*", "ICO cutting Fed", ("title:fed", "`ICO`", "cut*")),
        ("fed NEAR/3 cut*", "Fed to cut", ("fed", "cut*")),
        ("NOT bitcoin", "Gold", ()),
        ("中国", "中国人民银行", ("中国",)),
    ],
)
def test_hits_name_the_terms_that_made_the_match(
    query: str, text: str, terms: tuple[str, ...]
) -> None:
    assert compile_watchlists([("w", query)]).match(title(text)) == [Hit("w", terms)]


def test_hits_come_in_watchlist_order_and_only_for_matches() -> None:
    matcher = compile_watchlists(
        [("ico", "ICO"), ("china", "China"), ("fed", "fed NEAR/5 cut*"), ("btc", "bitcoin")]
    )
    hits = matcher.match(Document(title="China bans ICOs", summary="The Fed may cut too."))
    assert [hit.watchlist for hit in hits] == ["ico", "china", "fed"]


def test_one_document_serves_every_watchlist_alike() -> None:
    # the same term in several watchlists, in different case modes and fields
    matcher = compile_watchlists(
        [("a", "ico"), ("b", "`ICO`"), ("c", "title:ico"), ("d", "summary:`ico`")]
    )
    hits = matcher.match(Document(title="ICO", summary="an ico"))
    assert [hit.watchlist for hit in hits] == ["a", "b", "c", "d"]


def test_an_empty_document_matches_only_negative_queries() -> None:
    matcher = compile_watchlists([("pos", "China"), ("neg", "NOT China")])
    assert matcher.match(Document(title="", summary="")) == [Hit("neg", ())]


def test_invalid_watchlist_names_the_watchlist_and_column() -> None:
    with pytest.raises(WatchlistError) as caught:
        compile_watchlists([("ok", "China"), ("china", "China OR PB)")])
    assert str(caught.value) == "watchlist 'china': column 12: unbalanced parenthesis"
    assert (caught.value.watchlist, caught.value.column) == ("china", 12)
    assert caught.value.message == "unbalanced parenthesis"
    assert isinstance(caught.value, ValueError)


def test_near_in_a_long_summary_with_frequent_words() -> None:
    # 5,000 occurrences on each side: 25 million pairs if compared naively
    summary = " ".join(["alpha b c d e omega f g h i"] * 5000)
    matcher = compile_watchlists([("far", "alpha NEAR/4 omega"), ("near", "omega NEAR/5 alpha")])
    assert matcher.match(Document(title="", summary=summary)) == [Hit("near", ("omega", "alpha"))]
