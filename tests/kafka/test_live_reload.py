"""Live reload in Kafka mode: editing the watchlists reaches a running `newsalert matcher`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.broker import kafka_section
from tests.support.processes import pipeline_stages
from tests.support.rig import pipeline_rig, wait_delivered, wait_until


@pytest.mark.timeout(150)
def test_matcher_picks_up_a_watchlist_edit_and_survives_a_bad_one(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    with pipeline_rig(
        tmp_path / "newsalert.yaml",
        feeds=1,
        kafka=kafka_section(kafka_bootstrap, topic_prefix),
    ) as (feeds, hook, supervisor, config):
        feeds.add("f00")
        poller, matcher, notifier = pipeline_stages(config, tmp_path)
        for stage in (poller, matcher, notifier):
            supervisor.start(stage, restart=False)
        assert wait_delivered(hook, feeds.expected(["hook"]), within=60, quiet=0).missing == []

        # Stories without the watched word reach nobody... until a watchlist asks for them.
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["watchlists"].append({"name": "bakery", "query": "Bakery", "destinations": ["hook"]})
        config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        wait_until(lambda: matcher.count("watchlists_reloaded") == 1, 30, "the reload")
        bakery = feeds.add("f00", matches=False)
        wait_until(
            lambda: any(bakery.title in r.body.decode() for r in hook.received), 30, "bakery alert"
        )

        # A broken edit is refused once; the running rules keep alerting.
        data["watchlists"][-1]["query"] = "Bakery AND ("
        config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        wait_until(lambda: matcher.count("watchlists_reload_failed") == 1, 30, "the refusal")
        again = feeds.add("f00", matches=False)
        wait_until(
            lambda: any(again.title in r.body.decode() for r in hook.received), 30, "second alert"
        )
        exits = supervisor.stop_all()
    assert exits == {"poller": 0, "matcher": 0, "notifier": 0}, supervisor.tails()
    assert matcher.count("watchlists_reload_failed") == 1
