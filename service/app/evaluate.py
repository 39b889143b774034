"""`newsalert eval`: score the configured watchlists against a labelled file of feed entries."""

from __future__ import annotations

import json
from pathlib import Path

from consumers.evaluation import Labels, LabelsError, Score, parse_labels, score
from consumers.matcher import document_of
from service.app.config import compile_rules
from service.app.embedded import fetch_limits
from service.app.sources import read_articles
from service.errors import NewsalertError, SourceError
from service.fetch import Fetcher, make_client
from service.normalize import collapse_whitespace
from service.settings import Settings


async def evaluate(settings: Settings, labels_path: Path, *, as_json: bool) -> int:
    labels = _read_labels(labels_path, {w.name for w in settings.watchlists})
    matcher = compile_rules(settings)
    found: dict[str, dict[str, set[str]]] = {}  # source -> title -> watchlists matched
    limits = fetch_limits(settings)
    async with make_client(limits) as client:
        fetcher = Fetcher(client, limits)
        for source in dict.fromkeys(e.source for e in labels.entries):
            path = labels_path.parent / source
            try:
                articles = await read_articles(str(path), settings, fetcher)
            except NewsalertError as exc:
                raise SourceError(f"{labels_path}: source {source}: {exc}") from None
            titles = found.setdefault(source, {})
            for article in articles:
                hits = {h.watchlist for h in matcher.match(document_of(article))}
                titles.setdefault(_key(article.title), set()).update(hits)
    matched: list[set[str]] = []
    for entry in labels.entries:
        entry_hits = found[entry.source].get(_key(entry.title))
        if entry_hits is None:
            raise SourceError(
                f"{labels_path}: line {entry.line}: no entry titled {entry.title!r} in {entry.source}"
            )
        matched.append(entry_hits)
    scores = score(labels, matched)
    for s in scores:
        print(json.dumps(_as_json(s), ensure_ascii=False) if as_json else _as_text(s))
    return 0


def _read_labels(path: Path, known: set[str]) -> Labels:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"{path}: labels file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SourceError(f"{path}: cannot read the labels file: {reason}") from None
    try:
        labels = parse_labels(text)
    except LabelsError as exc:
        raise SourceError(f"{path}: {exc}") from None
    unknown = [name for name in labels.watchlists if name not in known]
    if unknown:
        raise SourceError(
            f"{path}: line 1: column {unknown[0]} names no watchlist of the config "
            f"(the config has: {', '.join(sorted(known)) or 'none'})"
        )
    return labels


def _key(title: str) -> str:
    return collapse_whitespace(title).casefold()


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _as_text(s: Score) -> str:
    lines = [
        f"{s.watchlist}: precision {_figure(s.precision)}, recall {_figure(s.recall)} "
        f"(tp {s.tp}, fp {s.fp}, fn {s.fn})"
    ]
    lines += [f"  false alarm: {t}" for t in s.false_alarms]
    lines += [f"  miss: {t}" for t in s.misses]
    return "\n".join(lines)


def _as_json(s: Score) -> dict[str, object]:
    return {
        "watchlist": s.watchlist,
        "precision": s.precision,
        "recall": s.recall,
        "tp": s.tp,
        "fp": s.fp,
        "fn": s.fn,
        "false_alarms": s.false_alarms,
        "misses": s.misses,
    }
