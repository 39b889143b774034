"""Alerts, digests and feed health alerts rendered as email: pure, values in, a message out.

Each message is multipart/alternative (plain text first, then HTML, as RFC 2046 orders them)
built with `email.message.EmailMessage` under `policy.SMTP`. Every header value is folded to
one line first (control characters become spaces), so a headline holding "\\r\\nBcc: x@y"
stays inside the Subject instead of starting a header; every text in the HTML part is escaped
and only http(s) links become anchors. The Message-ID is derived from the alert (or digest, or
health transition) id, so a re-send of the same alert carries the same Message-ID and a mail
client or archive can recognise it as a repeat.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit

from consumers.destinations._digest import cut, span
from consumers.destinations.digest_render import group_by_watchlist
from consumers.destinations.health_render import describe
from service.models import Alert, Digest, FeedHealthAlert

SUBJECT_MAX = 200  # characters; mail clients show far fewer, and a long one only wraps
TITLE_MAX = 500
# A digest lists at most this many stories; the rest is summed up as "+N more".
DIGEST_MAX = 500

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DOMAIN_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True)
class Envelope:
    """Who a message is from and to (checked by the config: plain addresses, no line breaks)."""

    sender: str
    recipients: Sequence[str]


def render_email(alert: Alert, envelope: Envelope) -> EmailMessage:
    """Subject "[watchlists] title"; body: title, summary, link, feed, time, matched terms."""
    article = alert.article
    title = cut(_one_line(article.title) or "(untitled)", TITLE_MAX)
    watchlists = ", ".join(_one_line(m.watchlist) for m in alert.matches)
    subject = f"[{watchlists}] {title}" if watchlists else title
    link = _safe_link(article.link)
    when = (article.published or article.fetched_at).strftime("%Y-%m-%d %H:%M UTC")
    matched = "; ".join(
        f"{_one_line(m.watchlist)} ({', '.join(_one_line(t) for t in m.terms)})"
        if m.terms
        else _one_line(m.watchlist)
        for m in alert.matches
    )
    summary = _plain(article.summary)
    facts = [("Feed", _one_line(article.feed.name)), ("Published", when), ("Matched", matched)]
    if alert.story is not None and len(alert.story.sources) > 1:
        facts.append(("Reported by", ", ".join(_one_line(s) for s in alert.story.sources)))

    text = [title, ""]
    if summary:
        text += [summary, ""]
    if link:
        text += [f"Read more: {link}", ""]
    text += [f"{k}: {v}" for k, v in facts]

    heading = f'<a href="{_attr(link)}">{_h(title)}</a>' if link else _h(title)
    page = [f"<h2>{heading}</h2>"]
    if summary:
        page.append("<p>" + _h(summary).replace("\n", "<br>\n") + "</p>")
    page.append("<p>" + "<br>\n".join(f"<b>{_h(k)}:</b> {_h(v)}" for k, v in facts) + "</p>")
    return _message(alert.id, subject, alert.created_at, envelope, text, page)


def render_email_digest(digest: Digest, envelope: Envelope) -> EmailMessage:
    """One message for the window: per watchlist, each story once, with the feeds that had it."""
    stories = _stories(digest)
    count = len(stories)
    subject = f"Digest: {count} {'story' if count == 1 else 'stories'}, {span(digest)}"

    text = [subject, ""]
    page = [f"<h2>{_h(subject)}</h2>"]
    shown = 0
    for watchlist, items in _by_watchlist(stories):
        if shown >= DIGEST_MAX:
            break
        text.append(f"{_one_line(watchlist)} ({len(items)})")
        page.append(f"<h3>{_h(_one_line(watchlist))} ({len(items)})</h3>\n<ul>")
        for story in items[: DIGEST_MAX - shown]:
            title = cut(_one_line(story.title) or "(untitled)", TITLE_MAX)
            sources = ", ".join(story.sources)
            text.append(f"- {title} ({sources})" + (f"\n  {story.link}" if story.link else ""))
            linked = f'<a href="{_attr(story.link)}">{_h(title)}</a>' if story.link else _h(title)
            page.append(f"<li>{linked} ({_h(sources)})</li>")
            shown += 1
        text.append("")
        page.append("</ul>")
    if shown < count:
        text.append(f"+{count - shown} more")
        page.append(f"<p>+{count - shown} more</p>")
    return _message(digest.id, subject, digest.window.end, envelope, text, page)


def render_email_health(alert: FeedHealthAlert, envelope: Envelope) -> EmailMessage:
    """Subject and body say the same sentence: which feed failed, recovered or went stale."""
    sentence = _one_line(describe(alert))
    what = alert.type.rsplit(".", 1)[1]
    subject = f"[feed {what}] {sentence}"
    return _message(alert.id, subject, alert.at, envelope, [sentence], [f"<p>{_h(sentence)}</p>"])


def message_id(key: str, sender: str) -> str:
    """`<key@domain>`: the alert id made safe for a msg-id, at the sender's domain.

    Only letters, digits, dot, hyphen and underscore survive on either side, so nothing from
    an id or an address can end the header or add another one.
    """
    local = _ID_UNSAFE.sub("-", key).strip(".-")[:200] or "newsalert"
    domain = _DOMAIN_UNSAFE.sub("", sender.rpartition("@")[2]).strip(".-")[:200] or "newsalert"
    return f"<{local}@{domain}>"


@dataclass(frozen=True)
class _Story:
    watchlist: str
    title: str
    link: str | None
    sources: list[str]


def _stories(digest: Digest) -> list[_Story]:
    """Alerts of one story (same story id, else same article) merged, sources in order seen."""
    merged: dict[str, _Story] = {}
    for watchlist, alerts in group_by_watchlist(digest):
        for alert in alerts:
            key = alert.story.id if alert.story is not None else alert.article.id
            names = [alert.article.feed.name, *(alert.story.sources if alert.story else [])]
            story = merged.get(key)
            if story is None:
                story = _Story(watchlist, alert.article.title, _safe_link(alert.article.link), [])
                merged[key] = story
            for name in names:
                clean = _one_line(name)
                if clean and clean not in story.sources:
                    story.sources.append(clean)
    return list(merged.values())


def _by_watchlist(stories: list[_Story]) -> list[tuple[str, list[_Story]]]:
    groups: dict[str, list[_Story]] = {}
    for story in stories:
        groups.setdefault(story.watchlist, []).append(story)
    return list(groups.items())


def _message(
    key: str,
    subject: str,
    when: datetime,
    envelope: Envelope,
    text: list[str],
    page: list[str],
) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = envelope.sender
    msg["To"] = ", ".join(envelope.recipients)
    msg["Subject"] = cut(_one_line(subject), SUBJECT_MAX)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id(key, envelope.sender)
    # RFC 3834: machine-generated, so vacation responders and autoreplies stay quiet.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content("\n".join(text).rstrip() + "\n")
    body = "\n".join(page)
    msg.add_alternative(
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n{body}\n</body></html>\n',
        subtype="html",
    )
    return msg


def _one_line(text: str) -> str:
    """Control characters (CR and LF included) become spaces; runs of spaces become one."""
    return " ".join(
        "".join(" " if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in text).split()
    )


def _plain(text: str) -> str:
    """A summary keeps its paragraphs (runs of blank lines become one) but no control characters."""
    out: list[str] = []
    for line in (_one_line(raw) for raw in text.strip().splitlines()):
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _safe_link(link: str) -> str | None:
    link = link.strip()
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.netloc or _one_line(link) != link:
        return None
    return link


def _h(text: str) -> str:
    return html.escape(text, quote=False)


def _attr(text: str | None) -> str:
    return html.escape(text or "", quote=True)
