"""What the flood-control, digest and feed-health scenarios add to the harness: config keys on
top of `write_config`'s, and the webhook receiver's requests sorted into single alerts, digests
and feed-health alerts."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.cli import NEWSALERT
from tests.support.receivers import Received, WebhookReceiver


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`newsalert ARGS...` (e.g. `dlq list`), its output captured."""
    return subprocess.run(  # noqa: S603 - our own console script
        [NEWSALERT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
    )


async def committed(bootstrap: str, group: str, topic: str) -> int:
    """The offsets `group` has committed on `topic`, summed over its partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic)


def add_keys(
    config: Path,
    *,
    destinations: dict[str, Any] | None = None,
    feeds: dict[str, str] | None = None,
    **top: Any,
) -> None:
    """Merge into a config: `destinations` keys into every destination, more `feeds` (name ->
    url), and top-level sections (a section that exists already is updated, not replaced)."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for dest in data["destinations"]:
        dest.update(destinations or {})
    data["feeds"] += [{"name": name, "url": url} for name, url in (feeds or {}).items()]
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@dataclass(frozen=True)
class Digest:
    webhook_id: str
    destination: str
    titles: tuple[str, ...]


@dataclass(frozen=True)
class Seen:
    """The accepted, signed requests a receiver got, by kind."""

    singles: list[tuple[str, str]]  # (title, destination) per single alert
    digests: list[Digest]
    health: list[dict[str, Any]]  # feed-health alert payloads (`data`), in arrival order
    unverified: int
    repeated_ids: int  # accepted requests beyond the first with the same webhook-id

    def singles_to(self, destination: str) -> list[str]:
        return [t for t, d in self.singles if d == destination]

    def digests_to(self, destination: str) -> list[Digest]:
        return [d for d in self.digests if d.destination == destination]

    def every_alert(self) -> Counter[tuple[str, str]]:
        """How many times each (title, destination) arrived, single or in a digest."""
        found = Counter(self.singles)
        for d in self.digests:
            found.update((t, d.destination) for t in d.titles)
        return found


def seen(hook: WebhookReceiver) -> Seen:
    accepted = [r for r in list(hook.received) if 200 <= r.status < 300]
    singles: list[tuple[str, str]] = []
    digests: list[Digest] = []
    health: list[dict[str, Any]] = []
    for r in accepted:
        body = r.json()
        data = body["data"]
        if body["type"] == "newsalert.alert":
            singles.append((data["article"]["title"], data["destination"]))
        elif body["type"] == "newsalert.digest":
            titles = tuple(a["article"]["title"] for a in data["alerts"])
            digests.append(Digest(_id(r), data["destination"], titles))
        elif body["type"].startswith("newsalert.feed."):
            health.append({"type": body["type"], **data})
    ids = Counter(_id(r) for r in accepted)
    return Seen(
        singles=singles,
        digests=digests,
        health=health,
        unverified=sum(1 for r in list(hook.received) if r.verified is not True),
        repeated_ids=sum(n - 1 for n in ids.values()),
    )


def _id(request: Received) -> str:
    return request.headers.get("webhook-id", "")
