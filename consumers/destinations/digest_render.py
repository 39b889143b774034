"""Digests rendered for each destination type: Slack Block Kit, the webhook body, console lines.

Pure: a `Digest` in, a payload out. Slack's digest groups alerts by watchlist (an alert that
matched several is listed under the first), one linked title per line, packed into sections of
at most 3,000 characters; past 50 blocks the rest is summed up as "+N more".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from consumers.destinations._digest import span
from consumers.destinations.console import _clean, format_console
from consumers.destinations.slack import (
    HEADER_MAX,
    MAX_BLOCKS,
    SECTION_MAX,
    TEXT_MAX,
    _escape,
    _escape_truncated,
    _one_line,
    _safe_link,
    _truncate,
)
from service.models import Alert, Digest

DIGEST_TYPE = "newsalert.digest"
# A title longer than this is cut, so one headline cannot fill a section on its own.
_TITLE_MAX = 300


def group_by_watchlist(digest: Digest) -> list[tuple[str, list[Alert]]]:
    """Watchlists in the order they first appear, each with its alerts in the order held."""
    groups: dict[str, list[Alert]] = {}
    for alert in digest.alerts:
        name = alert.matches[0].watchlist if alert.matches else "(no watchlist)"
        groups.setdefault(name, []).append(alert)
    return list(groups.items())


def render_slack_digest(digest: Digest) -> dict[str, Any]:
    """Header, then per watchlist a heading and sections of linked titles; "+N more" at the limit."""
    count = len(digest.alerts)
    noun = "alert" if count == 1 else "alerts"
    header = f"Digest: {count} {noun}, {span(digest)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _truncate(header, HEADER_MAX)}}
    ]
    room = MAX_BLOCKS - 1  # one block is kept back for "+N more"
    shown = 0
    for watchlist, alerts in group_by_watchlist(digest):
        lines = [f"*{_escape(_one_line(watchlist))}* ({len(alerts)})"]
        pending = 0  # alerts in `lines`, not yet in a block
        for alert in alerts:
            line = _line(alert)
            if sum(len(x) + 1 for x in lines) + len(line) > SECTION_MAX:
                if len(blocks) >= room:
                    break
                blocks.append(_section("\n".join(lines)))
                shown += pending
                lines, pending = [], 0
            lines.append(line)
            pending += 1
        if len(blocks) >= room:
            break
        blocks.append(_section("\n".join(lines)))
        shown += pending
    if shown < count:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"+{count - shown} more"}]}
        )
    text = f"{header}: " + "; ".join(_one_line(a.article.title) for a in digest.alerts[:20])
    return {"text": _escape_truncated(text, TEXT_MAX), "blocks": blocks[:MAX_BLOCKS]}


def _line(alert: Alert) -> str:
    title = _escape_truncated(_one_line(alert.article.title) or "(untitled)", _TITLE_MAX)
    link = _safe_link(alert.article.link)
    feed = _escape_truncated(_one_line(alert.article.feed.name), 100)
    if link and len(link) > SECTION_MAX // 4:
        link = None  # an absurd link would crowd the others out; the title stays
    label = title.replace("|", "¦")  # `|` inside the label would end it early
    return f"• <{link}|{label}> ({feed})" if link else f"• {title} ({feed})"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_MAX]}}


def render_webhook_digest(digest: Digest, timestamp: int) -> bytes:
    """{"type": "newsalert.digest", "timestamp", "data": {destination, window, alerts}}."""
    when = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = digest.model_dump(mode="json", include={"destination", "window", "alerts"})
    envelope = {"type": DIGEST_TYPE, "timestamp": when, "data": data}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def format_console_digest(digest: Digest) -> str:
    """A heading line, then one console line per alert, indented."""
    count = len(digest.alerts)
    head = f"digest for {_clean(digest.destination)}: {count} alert{'s' if count != 1 else ''}, {span(digest)}"
    return "\n".join([head, *(f"  {format_console(a)}" for a in digest.alerts)])
