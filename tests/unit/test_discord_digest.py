"""Discord digests and feed health: one embed within Discord's limits, markdown escaped."""

from __future__ import annotations

from consumers.destinations.discord import render_discord_digest, render_discord_health
from tests.support.alerts import HOSTILE_TITLE, make_alert, make_digest, make_health, many_alerts


def test_digest_lists_linked_titles_with_sources() -> None:
    payload = render_discord_digest(make_digest(many_alerts(2)))
    [embed] = payload["embeds"]
    assert embed["title"] == "Digest: 2 stories, 2024-05-01 12:00–13:00 UTC"
    assert embed["description"].split("\n") == [
        "**ico** (1)",
        "• [Story number 0 about the yuan](https://example.com/s/0) — reuters, ap, afp",
        "**china** (1)",
        "• [Story number 1 about the yuan](https://example.com/s/1) — reuters, ap, afp",
    ]
    assert payload["allowed_mentions"] == {"parse": []}


def test_digest_escapes_markdown_and_links() -> None:
    alert = make_alert(HOSTILE_TITLE, link="https://example.com/a_(b)")
    description = render_discord_digest(make_digest([alert]))["embeds"][0]["description"]
    assert "\\[click\\]\\(http://evil.example\\)" in description
    assert "(https://example.com/a_%28b%29)" in description
    assert "\\*bold\\*" in description


def test_big_digest_stays_within_discord_limits() -> None:
    payload = render_discord_digest(make_digest(many_alerts(500)))
    [embed] = payload["embeds"]
    assert len(embed["description"]) <= 4096
    assert len(embed["title"]) + len(embed["description"]) <= 6000
    shown = embed["description"].count("\n• ") + embed["description"].startswith("• ")
    assert embed["description"].endswith(f"+{500 - shown} more")


def test_feed_health_embed() -> None:
    [embed] = render_discord_health(make_health("stale"))["embeds"]
    assert embed["title"] == "Feed health"
    assert embed["description"] == "Feed wire is stale: no new item since 2024-04-30 12:00 UTC."
