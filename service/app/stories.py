"""`newsalert stories`: group the entries of feed files or URLs into stories, sending nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

from consumers.stories.index import StoryItem, group
from consumers.story_desk import item_of
from service.app.sources import read_each
from service.models import Article
from service.settings import Settings


async def stories(settings: Settings, sources: Sequence[str], *, as_json: bool) -> int:
    entries: list[tuple[str, Article]] = []
    failures = 0
    async for source, articles in read_each(sources, settings):
        if articles is None:
            failures += 1
            continue
        entries.extend((source, a) for a in articles)
    items: list[StoryItem] = [item_of(a) for _, a in entries]
    grouped = group(
        items,
        timedelta(seconds=settings.stories.window),
        max_sources=settings.stories.max_sources,
    )
    if as_json:
        for (source, article), (_, decided) in zip(entries, grouped, strict=True):
            record = {
                "source": source,
                "id": article.id,
                "title": article.title,
                "link": article.link,
                "feed": article.feed.name,
                "published": article.published.isoformat() if article.published else None,
                "story": decided.story_id,
                "first": decided.first,
            }
            print(json.dumps(record, ensure_ascii=False))
        return 1 if failures else 0
    members: dict[str, list[tuple[str, Article, bool]]] = {}
    for (source, article), (_, decided) in zip(entries, grouped, strict=True):
        members.setdefault(decided.story_id, []).append((source, article, decided.first))
    shared = sum(1 for m in members.values() if len({a.feed.name for _, a, _ in m}) > 1)
    print(f"{len(entries)} entries, {len(members)} stories, {shared} carried by several feeds")
    for story_id, copies in members.items():
        if len(copies) < 2:
            continue
        print(f"story {story_id[:12]} ({len(copies)} copies)")
        for _, article, first in copies:
            mark = "*" if first else " "
            print(f"  {mark} [{article.feed.name}] {article.title}")
    return 1 if failures else 0
