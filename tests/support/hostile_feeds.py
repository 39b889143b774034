"""The hostile and broken feeds the hostile-feed run serves: 22 built here (entity blow-ups,
gzip bombs, huge fields, broken dates, slow bodies...) and the files of
../shared/realdata/hostile, each with what its alerts must look like."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.feed_server import Reply
from tests.support.sample_feeds import Item, rss

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata" / "hostile"
MIB = 1024 * 1024
RSS_TYPE = {"Content-Type": "application/rss+xml"}
RSS_SAYS_UTF8 = {"Content-Type": "application/rss+xml; charset=utf-8"}
MAX_RSS_MB = 300
FAILURES_SEEN = 3  # every failing feed is watched until it has failed this many times
RUN_DEADLINE = 45.0


def _item(i: int, title: str, *, summary: str = "", date: str | None = None,
          extra: str = "") -> str:  # fmt: skip
    when = f"<pubDate>{date}</pubDate>" if date is not None else ""
    return (
        f"<item><guid>h{i}</guid><title>{title}</title><link>https://news.example.org/h/{i}"
        f"</link><description>{summary}</description>{when}{extra}</item>"
    )


def _doc(items: list[str], *, declaration: str = "<?xml version='1.0' encoding='utf-8'?>",
         doctype: str = "") -> str:  # fmt: skip
    return (
        f"{declaration}{doctype}<rss version='2.0'><channel><title>hostile</title>"
        f"<link>https://news.example.org/</link>{''.join(items)}</channel></rss>"
    )


def _quadratic(entity_chars: int, references: int) -> bytes:
    """An entity of `entity_chars` used `references` times: expanded, entity*references chars."""
    doctype = f"<!DOCTYPE rss [<!ENTITY a '{'A' * entity_chars}'>]>"
    item = _item(1, "China quadratic", summary="&a;" * references)
    return _doc([item], declaration="<?xml version='1.0'?>", doctype=doctype).encode()


@dataclass(frozen=True)
class Case:
    name: str
    reply: Reply
    # "fail": the poll must fail with `detail` in its one log line; "ok": it must succeed and
    # `alerts` (if given) checks what the webhook received from it; "any": either, cleanly.
    expect: str
    detail: str = ""
    alerts: Callable[[list[dict[str, Any]]], None] | None = None
    routes: dict[str, Reply] = field(default_factory=dict)  # extra paths (redirect hops)
    backfill_all: bool = False


def _titles_published(alerts: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return sorted((a["article"]["title"], a["article"]["published"]) for a in alerts)


def _expect_dates(alerts: list[dict[str, Any]]) -> None:
    # Year 0, year 9999 and nonsense all become "no date"; the stories still arrive.
    assert _titles_published(alerts) == [
        ("China nonsense date", None),
        ("China year 0", None),
        ("China year 9999", None),
    ]


def _expect_huge_fields(alerts: list[dict[str, Any]]) -> None:
    assert len(alerts) == 2
    for alert in alerts:
        assert alert["article"]["title"].startswith("China huge")
        assert len(alert["article"]["title"]) <= 500
        assert len(alert["article"]["summary"]) <= 4000


def _expect_count(count: int, needle: str) -> Callable[[list[dict[str, Any]]], None]:
    def check(alerts: list[dict[str, Any]]) -> None:
        assert len(alerts) == count
        assert all(needle in a["article"]["title"] for a in alerts)

    return check


def _cases() -> list[Case]:
    rss_body = rss([Item("x1", "Nothing to see")])
    author = "<author>" + "a" * 32 * 1024 + "</author>"
    hundred_mb = b"<rss version='2.0'><channel>" + b" " * (100 * MIB)
    cases = [
        Case("quadratic-small", Reply(body=_quadratic(1_000, 1_000), headers=RSS_TYPE), "ok",
             alerts=_expect_count(1, "China quadratic"), backfill_all=True),
        Case("quadratic-100m", Reply(body=_quadratic(10_000, 10_000), headers=RSS_TYPE), "ok",
             alerts=_expect_count(1, "China quadratic"), backfill_all=True),
        Case("quadratic-1g", Reply(body=_quadratic(50_000, 20_000), headers=RSS_TYPE), "ok",
             alerts=_expect_count(1, "China quadratic"), backfill_all=True),
        Case("author-32k", Reply(body=_doc([_item(i, f"China author {i}", extra=author)
                                            for i in range(5)]).encode(), headers=RSS_TYPE),
             "ok", alerts=_expect_count(5, "China author"), backfill_all=True),
        Case("gzip-bomb", Reply.gzip_bomb(200 * MIB), "fail", "larger than"),
        Case("body-100mb", Reply(body=hundred_mb), "fail", "larger than"),
        Case("body-100mb-no-length", Reply(body=hundred_mb, content_length=False), "fail",
             "larger than"),
        Case("slowloris", Reply(body=rss_body, drip=1.0), "fail", "timed out"),
        Case("stall-before-headers", Reply(body=rss_body, delay=60), "fail", "timed out"),
        Case("redirect-loop", Reply.redirect("/loop-b"), "fail", "Redirect loop",
             routes={"/loop-b": Reply.redirect("/redirect-loop")}),
        Case("redirect-chain", Reply.redirect("/chain-1"), "fail", "Too many redirects",
             routes={f"/chain-{i}": Reply.redirect(f"/chain-{i + 1}") for i in range(1, 12)}),
        Case("html-page", Reply(
            body=b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
                 b"<body><p>Checking your browser before accessing.</p></body></html>",
            headers={"Content-Type": "text/html; charset=utf-8"}), "fail", "HTML page"),
        Case("empty-200", Reply(body=b"", headers=RSS_TYPE), "fail", "empty"),
        Case("whitespace-200", Reply(body=b"\n\n   \n", headers=RSS_TYPE), "fail", "empty"),
        Case("not-xml", Reply(body=b"{\"error\": \"use the API\"}",
                              headers={"Content-Type": "application/json"}), "fail", "not an RSS"),
        Case("status-500", Reply(status=500, body=b"oops"), "fail", "500"),
        Case("invalid-utf8", Reply(
            body=_doc([_item(1, "China \xff\xfe trade")]).encode("latin-1"),
            headers=RSS_TYPE), "ok", alerts=_expect_count(1, "China"), backfill_all=True),
        Case("mislabelled-cp1252", Reply(
            body=_doc([_item(1, "Beijing caf\u00e9 \u2014 prices")]).encode("cp1252"),
            headers=RSS_SAYS_UTF8), "ok", alerts=_expect_count(1, "Beijing"), backfill_all=True),
        Case("mislabelled-latin1-decl", Reply(
            body=_doc([_item(1, "Beijing \u5317\u4eac talks")],
                      declaration="<?xml version='1.0' encoding='iso-8859-1'?>").encode(),
            headers=RSS_TYPE), "ok", alerts=_expect_count(1, "Beijing"), backfill_all=True),
        Case("items-20000", Reply(
            body=_doc([_item(i, f"Routine story {i}") for i in range(20_000)]).encode(),
            headers=RSS_TYPE), "ok"),
        Case("fields-1mb", Reply(
            body=_doc([_item(i, "China huge " + "word " * 200_000, summary="text " * 200_000)
                       for i in range(2)]).encode(), headers=RSS_TYPE), "ok",
             alerts=_expect_huge_fields, backfill_all=True),
        Case("dates", Reply(body=_doc([
            _item(1, "China year 0", date="0000-00-00T00:00:00Z"),
            _item(2, "China year 9999", date="Fri, 31 Dec 9999 23:59:59 GMT"),
            _item(3, "China nonsense date", date="the day after tomorrow-ish"),
        ]).encode(), headers=RSS_TYPE), "ok", alerts=_expect_dates, backfill_all=True),
    ]  # fmt: skip
    if REALDATA.is_dir():
        for path in sorted(p for p in REALDATA.rglob("*") if p.is_file()):
            if path.name.startswith("LICENSE"):
                continue
            name = f"realdata-{path.parent.name[:12]}-{path.stem}".replace("_", "-")
            cases.append(Case(name, Reply(body=path.read_bytes(), headers=RSS_TYPE), "any"))
    return cases


CASES = _cases()
