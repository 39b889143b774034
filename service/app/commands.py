"""What each `newsalert` command does, once the CLI has parsed its arguments and the config."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from consumers import kafka_dlq
from consumers.matcher import document_of
from consumers.matching import Hit
from service.app.config import compile_rules
from service.app.embedded import DB_NAME, run_forever
from service.app.embedded import run_once as pipeline_run_once
from service.app.kafka import ROLES, run_roles
from service.app.sources import read_each
from service.bus.kafka import KafkaBus
from service.errors import NewsalertError
from service.kafka_feed_state import kafka_feed_states
from service.models import Alert, Article
from service.settings import Settings
from service.store import FeedState, Store


def check(settings: Settings, path: Path) -> int:
    mode = "kafka" if settings.kafka else "embedded"
    print(
        f"{path}: OK: {len(settings.feeds)} feeds, {len(settings.watchlists)} watchlists, "
        f"{len(settings.destinations)} destinations, {mode} mode"
    )
    return 0


def health(settings: Settings) -> int:
    if not settings.health.port:
        print("newsalert: health endpoint is disabled (health.port is 0)", file=sys.stderr)
        return 1
    host = settings.health.host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - mapping a bind-all address to loopback
    host = "::1" if host == "::" else host
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal in a URL
    try:
        response = httpx.get(f"http://{host}:{settings.health.port}/healthz", timeout=3.0)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        print(
            f"newsalert: not healthy: {type(exc).__name__} on port {settings.health.port}",
            file=sys.stderr,
        )
        return 1
    if response.status_code != 200:
        print(f"newsalert: not healthy: HTTP {response.status_code}", file=sys.stderr)
        return 1
    return 0


async def run_once(settings: Settings) -> int:
    if settings.kafka is not None:
        raise NewsalertError(
            "run --once works on the embedded store; remove kafka: from the config"
        )
    await pipeline_run_once(settings)
    return 0


async def run_service(
    settings: Settings,
    role: str | None,
    stop: asyncio.Event,
    *,
    config_path: Path | None = None,
    reload: asyncio.Event | None = None,
) -> None:
    """Run until `stop`; watchlist edits in `config_path` (or `reload`) are applied live."""
    if role is None and settings.kafka is None:
        await run_forever(settings, stop, config_path=config_path, reload=reload)
        return
    if settings.kafka is None:
        raise NewsalertError(
            f"the {role} role runs over Kafka: set kafka.bootstrap_servers in the config "
            "(or NEWSALERT_KAFKA__BOOTSTRAP_SERVERS)"
        )
    roles = set(ROLES) if role is None else {role}
    await run_roles(settings, roles, stop, config_path=config_path, reload=reload)


# --- match: a dry run over saved feeds or URLs --------------------------------------------


async def match(settings: Settings, sources: Sequence[str], *, as_json: bool) -> int:
    matcher = compile_rules(settings)
    failures = 0
    async for source, articles in read_each(sources, settings):
        if articles is None:
            failures += 1
            continue
        results = [(a, matcher.match(document_of(a))) for a in articles]
        if as_json:
            for article, hits in results:
                print(json.dumps(_match_json(source, article, hits), ensure_ascii=False))
        else:
            _print_matches(source, results)
    return 1 if failures else 0


def _match_json(source: str, article: Article, hits: Sequence[Hit]) -> dict[str, object]:
    return {
        "source": source,
        "id": article.id,
        "title": article.title,
        "summary": article.summary,
        "link": article.link,
        "published": article.published.isoformat() if article.published else None,
        "watchlists": [h.watchlist for h in hits],
        "matches": {h.watchlist: list(h.terms) for h in hits},
        "explain": {
            h.watchlist: [{"term": term, "field": field} for term, field in h.explain()]
            for h in hits
        },
    }


def _print_matches(source: str, results: Sequence[tuple[Article, Sequence[Hit]]]) -> None:
    matching = sum(1 for _, hits in results if hits)
    print(f"{source}: {len(results)} entries, {matching} matching")
    for article, hits in results:
        names = ", ".join(h.watchlist for h in hits) or "-"
        print(f"  [{names}] {article.title}")
        for hit in hits:
            found = ", ".join(f"{term} ({field})" for term, field in hit.explain()) or ", ".join(
                hit.terms
            )
            print(f"      {hit.watchlist}: {found}")


# --- feed states -----------------------------------------------------------------------------


async def feeds(settings: Settings, *, as_json: bool) -> int:
    """Each configured feed's state as the pollers last saved it."""
    states = {s.feed: s for s in await _feed_states(settings)}
    for feed in settings.feeds:
        state = states.get(feed.name)
        record = {
            "feed": feed.name,
            "last_success": _when(state.last_success_at) if state else None,
            "last_poll": _when(state.last_polled_at) if state else None,
            "next_poll": _when(state.next_poll_at) if state else None,
            "consecutive_failures": state.consecutive_failures if state else 0,
            "last_error": state.last_error if state else None,
        }
        if as_json:
            print(json.dumps(record, ensure_ascii=False))
        else:
            health = (
                "never polled"
                if state is None
                else (
                    f"failing x{state.consecutive_failures}: {state.last_error}"
                    if state.consecutive_failures
                    else "ok"
                )
            )
            print(
                f"{feed.name:24} last success {record['last_success'] or '-':20} "
                f"next poll {record['next_poll'] or '-':20} {health}"
            )
    return 0


def _when(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def _feed_states(settings: Settings) -> list[FeedState]:
    if settings.kafka is not None:
        bus = await KafkaBus.open(settings.kafka)
        try:
            return await kafka_feed_states(bus)
        finally:
            await bus.close()
    store = await _open_existing_store(settings)
    try:
        return await store.feeds.all_feed_states()
    finally:
        await store.close()


# --- dead letters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Letter:
    alert_id: str
    destination: str
    attempts: int
    error: str
    alert: Alert


async def dlq_list(settings: Settings, destination: str | None, *, as_json: bool) -> int:
    letters = await _dead_letters(settings, destination)
    for letter in letters:
        article = letter.alert.article
        if as_json:
            record = {
                "id": letter.alert_id,
                "destination": letter.destination,
                "attempts": letter.attempts,
                "error": letter.error,
                "title": article.title,
                "link": article.link,
                "watchlists": [m.watchlist for m in letter.alert.matches],
            }
            print(json.dumps(record, ensure_ascii=False))
        else:
            print(
                f"{letter.alert_id}  {letter.destination}  attempts={letter.attempts}  "
                f"error={letter.error}  {article.title}"
            )
    if not as_json:
        print(f"{len(letters)} dead letters", file=sys.stderr)
    return 0


async def dlq_replay(settings: Settings, ids: Sequence[str], destination: str | None) -> int:
    letters = await _dead_letters(settings, destination)
    chosen = [x for x in letters if not ids or x.alert_id in ids]
    if settings.kafka is not None:
        bus = await KafkaBus.open(settings.kafka)
        try:
            count = await kafka_dlq.replay(bus, [_as_kafka(x) for x in chosen])
        finally:
            await bus.close()
    else:
        store = await _open_existing_store(settings)
        try:
            count = await store.outbox.replay([x.alert_id for x in chosen])
        finally:
            await store.close()
    print(
        f"{count} dead letters queued for delivery again; a running service (or the next "
        "`newsalert run`) delivers them"
    )
    return 0


async def _dead_letters(settings: Settings, destination: str | None) -> list[_Letter]:
    if settings.kafka is not None:
        bus = await KafkaBus.open(settings.kafka)
        try:
            found = await kafka_dlq.dead_letters(bus)
        finally:
            await bus.close()
        letters = [_Letter(d.alert.id, d.destination, d.attempts, d.error, d.alert) for d in found]
    else:
        store = await _open_existing_store(settings)
        try:
            rows = await store.outbox.dead_letters()
        finally:
            await store.close()
        letters = [
            _Letter(
                r.alert_id,
                r.destination,
                r.attempts,
                r.last_error or "",
                Alert.model_validate_json(r.payload),
            )
            for r in rows
        ]
    return [x for x in letters if destination is None or x.destination == destination]


def _as_kafka(letter: _Letter) -> kafka_dlq.DeadLetter:
    return kafka_dlq.DeadLetter(letter.alert, letter.destination, letter.attempts, letter.error)


async def _open_existing_store(settings: Settings) -> Store:
    path = settings.state_dir / DB_NAME
    if not path.exists():
        raise NewsalertError(f"no store at {path}: the service has not run with this config yet")
    return await Store.open(path)
