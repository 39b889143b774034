"""Small RSS documents written for the tests (never copied from real feeds)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    summary: str = ""
    hours_ago: float = 1.0


def rss(items: list[Item], *, title: str = "Test wire", now: datetime | None = None) -> bytes:
    now = now or datetime.now(UTC)
    entries = "".join(
        f"<item><guid isPermaLink='false'>{escape(i.guid)}</guid><title>{escape(i.title)}</title>"
        f"<link>https://news.example.org/{escape(i.guid)}?utm_source=rss</link>"
        f"<description>{escape(i.summary)}</description>"
        f"<pubDate>{format_datetime(now - timedelta(hours=i.hours_ago))}</pubDate></item>"
        for i in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{escape(title)}</title><link>https://news.example.org/</link>"
        f"<description>wire</description>{entries}</channel></rss>"
    ).encode()


CHINA = Item("c1", "China's central bank cuts reserve ratio", "The PBoC eased policy on Friday.")
ICO = Item("i1", "Regulators probe new ICOs", "Token sales raised millions this quarter.")
BOTH = Item(
    "b1", "Beijing weighs a ban on ICO fundraising", "Chinese regulators looked at token sales."
)
OTHER = Item("o1", "Local bakery wins award", "Nothing to see here.")
