"""The matcher on real headlines and summaries (../shared/realdata), checked against regexes.

Real feeds bring what hand-written examples miss: entities, typographic apostrophes, CDATA,
GB2312 Chinese, enormous summaries. Each query must agree with an independent regular
expression on every entry, and must match at least one entry so the check is not vacuous.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import cache
from pathlib import Path

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.matching import Document, compile_naive, compile_watchlists

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not (REALDATA / "feeds").is_dir(),
        reason=f"real feed captures not found at {REALDATA / 'feeds'} (CI places them there)",
    ),
]


def _plain(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", " ", markup))


@cache
def real_documents() -> tuple[Document, ...]:
    documents = []
    for path in sorted((REALDATA / "feeds").rglob("*")):
        if path.suffix not in (".xml", ".rss", ".atom"):
            continue
        for entry in feedparser.parse(path.read_bytes()).entries:
            title, summary = entry.get("title", ""), entry.get("summary", "")
            documents.append(Document(title=_plain(title), summary=_plain(summary)))
    return tuple(documents)


def _word(pattern: str, flags: re.RegexFlag = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile(rf"(?<![^\W_]){pattern}(?:s|['’]s)?(?![^\W_])", flags)


@pytest.mark.parametrize(
    ("query", "reference"),
    [
        ("China", _word("china")),
        ("`ICO`", _word("ICO", re.RegexFlag(0))),
        ('"Hong Kong"', _word(r"hong[\W_]+kong")),
        ("Fed", _word("fed")),
        ("中国", re.compile("中国")),
    ],
)
def test_queries_agree_with_a_regex_on_every_real_entry(
    query: str, reference: re.Pattern[str]
) -> None:
    matcher = compile_watchlists([("w", query)])
    matched = 0
    for doc in real_documents():
        expected = any(
            reference.search(unicodedata.normalize("NFKC", text))
            for text in (doc.title, doc.summary)
        )
        assert bool(matcher.match(doc)) is expected, doc.title
        matched += expected
    assert matched > 0, f"no real entry mentions {query}; the check would prove nothing"


def test_the_project_watchlists_run_over_every_real_entry() -> None:
    # the shape of the default config: long ORs, phrases, NEAR with wildcards, NOT, fields
    matcher = compile_watchlists(
        [
            ("china", 'China OR "People\'s Bank of China" OR JD.com OR 中国 OR 人民币'),
            ("ico", '(`ICO` OR "token sale" OR presale*) NOT ("Information Commissioner" OR GDPR)'),
            ("fed", '(Fed OR FOMC) AND (cut* NEAR/4 rate* OR "rate cut") NOT title:hike*'),
        ]
    )
    names = [hit.watchlist for doc in real_documents() for hit in matcher.match(doc)]
    assert {"china", "ico", "fed"} <= set(names)


@cache
def real_vocabulary() -> tuple[str, ...]:
    """Words of the real titles (Latin and unspaced), as query terms would name them."""
    from consumers.matching.text import tokenise

    words = {word for doc in real_documents() for word in tokenise(doc.title) if len(word) > 2}
    return tuple(sorted(words))


@st.composite
def real_queries(draw: st.DrawFn) -> str:
    word = st.sampled_from(real_vocabulary())
    term = st.one_of(
        word,
        word.map(lambda w: w[: max(2, len(w) - 2)] + "*"),
        st.tuples(word, word).map(lambda t: f'"{t[0]} {t[1]}"'),
        word.map(lambda w: f"`{w}`"),
        word.map(lambda w: f"title:{w}"),
    )
    shape = draw(st.integers(0, 4))
    a, b, c = draw(term), draw(term), draw(term)
    plain = draw(word), draw(word)
    return [
        f"{a} OR {b} OR {c}",
        f"({a} OR {b}) AND {c}",
        f"({a} OR {b}) NOT {c}",
        f"{plain[0]} NEAR/5 {plain[1]}",
        f"NOT {a} AND summary:{plain[0]}",
    ][shape]


@settings(max_examples=15, deadline=None)
@given(queries=st.lists(real_queries(), min_size=20, max_size=60))
def test_indexed_matcher_equals_naive_on_every_real_entry(queries: list[str]) -> None:
    named = [(f"w{i}", query) for i, query in enumerate(queries)]
    indexed, naive = compile_watchlists(named), compile_naive(named)
    for doc in real_documents():
        got, expected = indexed.match(doc), naive.match(doc)
        assert got == expected, doc.title
        assert [hit.fields for hit in got] == [hit.fields for hit in expected], doc.title
