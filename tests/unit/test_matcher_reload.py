"""Live reload of the watchlists: edits swap the rules whole; bad edits keep the running ones.

These tests write a config file in tmp_path, the one piece of I/O the reload API has.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from consumers.matching import Document
from consumers.reload import MatcherHolder, watch_config
from service.settings import WatchlistConfig

HEAD = """\
feeds:
  - name: wire
    url: https://example.org/feed.xml
destinations:
  - name: console
    type: console
  - name: desk
    type: console
watchlists:
"""


def write_config(path: Path, *watchlists: tuple[str, str, str]) -> Path:
    lines = [
        f"  - name: {name}\n    query: '{query}'\n    destinations: [{dest}]\n"
        for name, query, dest in watchlists
    ]
    path.write_text(HEAD + "".join(lines), encoding="utf-8")
    return path


def matched(holder: MatcherHolder, title: str) -> list[str]:
    return [hit.watchlist for hit in holder.current.matcher.match(Document(title, ""))]


@pytest.fixture
def holder() -> MatcherHolder:
    return MatcherHolder(
        [WatchlistConfig(name="china", query="China", destinations=["console"])],
        destinations={"console", "desk"},
    )


def test_an_edit_swaps_in_the_new_watchlists_and_routes(
    tmp_path: Path, holder: MatcherHolder
) -> None:
    config = write_config(
        tmp_path / "c.yaml", ("china", "China OR yuan", "desk"), ("fed", "Fed", "console")
    )
    outcome = holder.reload_from(config, environ={})
    assert outcome.ok and outcome.changed and outcome.version == 2
    assert matched(holder, "Yuan slides as Fed meets") == ["china", "fed"]
    assert holder.current.routes == {"china": ("desk",), "fed": ("console",)}
    assert holder.status()["last_error"] is None


def test_an_invalid_edit_keeps_the_running_rules_and_names_watchlist_and_column(
    tmp_path: Path, holder: MatcherHolder
) -> None:
    config = write_config(tmp_path / "c.yaml", ("china", "China OR (yuan", "console"))
    outcome = holder.reload_from(config, environ={})
    assert not outcome.ok and outcome.version == 1
    [error] = outcome.errors
    assert "watchlist 'china'" in error and "column 10" in error and "c.yaml" in error
    assert matched(holder, "China and the yuan") == ["china"]  # still the old query
    assert matched(holder, "the yuan") == []
    assert holder.status()["last_error"] == error
    assert holder.status()["reload_failures"] == 1

    write_config(config, ("china", "China OR yuan", "console"))
    assert holder.reload_from(config, environ={}).changed
    assert matched(holder, "the yuan") == ["china"]
    assert holder.last_error is None


def test_edits_outside_the_watchlists_do_not_make_a_new_version(
    tmp_path: Path, holder: MatcherHolder
) -> None:
    config = write_config(tmp_path / "c.yaml", ("china", "China", "console"))
    outcome = holder.reload_from(config, environ={})
    assert outcome.ok and not outcome.changed and holder.version == 1


def test_a_destination_the_process_does_not_have_is_refused(
    tmp_path: Path, holder: MatcherHolder
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        HEAD.replace("  - name: desk\n    type: console\n", "  - name: new\n    type: console\n")
        + "  - name: china\n    query: yuan\n    destinations: [new]\n",
        encoding="utf-8",
    )
    outcome = holder.reload_from(config, environ={})
    assert not outcome.ok
    assert "'new'" in outcome.errors[0] and "restart" in outcome.errors[0]
    assert matched(holder, "yuan") == []


def test_a_missing_file_keeps_the_running_rules(tmp_path: Path, holder: MatcherHolder) -> None:
    outcome = holder.reload_from(tmp_path / "gone.yaml", environ={})
    assert not outcome.ok and "gone.yaml" in outcome.errors[0]
    assert matched(holder, "China") == ["china"]


def test_every_article_is_matched_by_exactly_one_version(tmp_path: Path) -> None:
    # v(odd) watches "alpha" as a and b; v(even) watches "beta" as a and b.
    holder = MatcherHolder([WatchlistConfig(name="a", query="alpha", destinations=["console"])])
    configs = [
        write_config(tmp_path / f"{n}.yaml", ("a", word, "console"), ("b", word, "console"))
        for n, word in enumerate(["beta", "alpha"])
    ]
    done = threading.Event()

    def reload_repeatedly() -> None:
        for round_ in range(30):
            holder.reload_from(configs[round_ % 2], environ={})
        done.set()

    thread = threading.Thread(target=reload_repeatedly)
    thread.start()
    seen = set()
    while not done.is_set():
        rules = holder.current  # once per article, as the matcher stage does
        hits = [hit.watchlist for hit in rules.matcher.match(Document("alpha beta", ""))]
        assert hits in (["a"], ["a", "b"])
        assert set(rules.routes) == set(hits) or rules.version == 1
        seen.add(rules.version)
    thread.join()
    assert holder.version == 31 and len(seen) > 1


async def test_watching_the_file_reloads_on_edit_and_on_wake(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", ("china", "China", "console"))
    holder = MatcherHolder([WatchlistConfig(name="china", query="China", destinations=["console"])])
    stop, wake = asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(
        watch_config(config, holder, stop, interval=0.02, wake=wake, environ={})
    )

    async def until(condition: object, what: str) -> None:
        for _ in range(250):
            if callable(condition) and condition():
                return
            await asyncio.sleep(0.02)
        pytest.fail(f"timed out waiting for {what}")

    write_config(config, ("china", "China OR yuan", "console"))
    await until(lambda: matched(holder, "yuan") == ["china"], "the edit to be loaded")
    assert holder.version == 2

    write_config(config, ("china", "China OR", "console"))
    await until(lambda: holder.failures == 1, "the bad edit to be reported")
    assert matched(holder, "yuan") == ["china"] and holder.version == 2

    write_config(config, ("china", "yuan", "console"))
    await until(lambda: holder.version == 3, "the fix to be loaded")

    wake.set()  # as SIGHUP would: reload now, even though nothing changed
    await until(lambda: not wake.is_set(), "the forced reload")
    assert holder.version == 3 and holder.failures == 1

    stop.set()
    await asyncio.wait_for(watcher, timeout=2)
