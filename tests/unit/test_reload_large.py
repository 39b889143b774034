"""Live reload of a large config: matching goes on while the new watchlists compile, and the
old matcher is gone once the new one runs.

The reload runs as the service runs it (`watch_config`, woken as by SIGHUP); a stream of
articles is matched on the same event loop meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from datetime import UTC, datetime
from pathlib import Path

from consumers.matching import Document
from consumers.reload import MatcherHolder, watch_config
from service.settings import WatchlistConfig

WATCHLISTS = 4_000  # enough that compiling them takes many of the loop's turns


def write_large_config(path: Path, count: int) -> Path:
    lines = ["feeds:\n  - name: wire\n    url: https://example.org/feed.xml\n"]
    lines.append("destinations:\n  - name: console\n    type: console\nwatchlists:\n")
    lines.append("  - name: china\n    query: 'China OR yuan'\n    destinations: [console]\n")
    for number in range(count):
        query = f'alpha{number} OR "beta{number} gamma" OR (delta{number}* NEAR/3 rates)'
        lines.append(f"  - name: w{number}\n    query: '{query}'\n    destinations: [console]\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


async def test_articles_are_matched_while_a_large_config_compiles(tmp_path: Path) -> None:
    compiling = threading.Event()

    def clock() -> datetime:
        # The holder reads its clock right before it compiles a reloaded config.
        if holder_ready.is_set():
            compiling.set()
        return datetime.now(UTC)

    holder_ready = threading.Event()
    holder = MatcherHolder(
        [WatchlistConfig(name="china", query="China", destinations=["console"])], clock=clock
    )
    holder_ready.set()
    config = write_large_config(tmp_path / "newsalert.yaml", WATCHLISTS)
    holder.fingerprint = "the file as it was at startup"  # so that only the wake reloads
    stop, wake = asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(watch_config(config, holder, stop, interval=60, wake=wake))

    during: list[list[str]] = []  # what each article handled while compiling matched
    wake.set()
    while holder.version == 1 and holder.failures == 0:
        rules = holder.current  # as the matcher stage reads it, once per article
        hits = [hit.watchlist for hit in rules.matcher.match(Document("Yuan falls", ""))]
        if compiling.is_set() and rules.version == 1:
            during.append(hits)
        await asyncio.sleep(0.001)
    stop.set()
    await watcher

    assert holder.last_error is None
    assert compiling.is_set()
    assert len(during) >= 5, "the event loop stood still while the new watchlists compiled"
    assert all(hits == [] for hits in during)  # the old rules, whole: "China" only
    after = holder.current.matcher.match(Document("Yuan falls as alpha7 rises", ""))
    assert [hit.watchlist for hit in after] == ["china", "w7"]
    assert len(holder.current.matcher.watchlists) == WATCHLISTS + 1


def test_the_old_matcher_is_released_by_the_swap(tmp_path: Path) -> None:
    holder = MatcherHolder([WatchlistConfig(name="china", query="China", destinations=["console"])])
    old = weakref.ref(holder.current.matcher)
    config = write_large_config(tmp_path / "newsalert.yaml", 50)

    outcome = holder.reload_from(config, environ={})

    assert outcome.ok and outcome.changed
    # Freed by reference counting at the swap, not left for the cycle collector (which
    # never looks at a matcher frozen out of it): two matchers live only while one compiles.
    assert old() is None
    assert [hit.watchlist for hit in holder.current.matcher.match(Document("alpha3", ""))] == ["w3"]
