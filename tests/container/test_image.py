"""The image itself, embedded mode: its entrypoint, its own config, a signed delivery from a
read-only config, its user, its HEALTHCHECK and its stop. Every container runs with
`--network host`, so the feed server and the receiver on 127.0.0.1 are reachable."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.container.engine import Container, config_dir, docker, free_port
from tests.support.cli import WEBHOOK_SECRET
from tests.support.feed_server import FeedServer
from tests.support.receivers import Reply, WebhookReceiver
from tests.support.rig import wait_delivered, write_config
from tests.support.story_feeds import StoryFeeds

STATE = Path("/app/data")  # the image's VOLUME, writable by its user
UID = 10001


def test_help_lists_every_role(image: str) -> None:
    helped = docker("run", "--rm", "--network", "host", image, "--help")
    assert helped.returncode == 0, helped.stderr
    for role in ("run", "poller", "matcher", "notifier", "check", "health"):
        assert role in helped.stdout


def test_check_accepts_the_images_own_default_config(image: str) -> None:
    checked = docker("run", "--rm", "--network", "host", image, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("/app/config/newsalert.yaml: OK"), checked.stdout


@pytest.mark.timeout(180)
def test_run_once_delivers_a_signed_webhook_from_a_read_only_config(
    image: str, share_dir: Path, containers: list[Container]
) -> None:
    with FeedServer() as server, WebhookReceiver(WEBHOOK_SECRET) as hook:
        feeds = StoryFeeds(server, 2)
        feeds.add("f00")
        feeds.add("f01")
        feeds.add("f01", matches=False)
        config = write_config(
            config_dir(share_dir) / "newsalert.yaml",
            feeds=feeds.urls,
            webhook_url=hook.url,
            state_dir=STATE,
        )
        run = Container("run", "--once", config=config)
        containers.append(run)
        code = run.wait(150)
        result = wait_delivered(hook, feeds.expected(["hook"]), within=5, quiet=0)

    assert code == 0, run.tail()
    assert result.missing == [] and result.unexpected == [], run.tail()
    assert result.repeated == 0 and result.unverified == 0
    assert all(r.verified for r in hook.received), "every delivery carries a valid signature"
    mounts = run.inspect()["Mounts"]
    assert [(m["Destination"], m["RW"]) for m in mounts if m["Type"] == "bind"] == [
        ("/app/config", False)
    ]


@pytest.mark.timeout(240)
def test_service_runs_unprivileged_turns_healthy_and_stops_cleanly_with_deliveries_drained(
    image: str, share_dir: Path, containers: list[Container]
) -> None:
    volume = f"newsalert-test-{uuid.uuid4().hex[:10]}"
    health = {"NEWSALERT_HEALTH__PORT": str(free_port())}
    fast_health = ["--health-interval", "1s", "--health-start-period", "30s"]
    try:
        with FeedServer() as server, WebhookReceiver(WEBHOOK_SECRET) as hook:
            feeds = StoryFeeds(server, 1)
            config = write_config(
                config_dir(share_dir) / "newsalert.yaml",
                feeds=feeds.urls,
                webhook_url=hook.url,
                state_dir=STATE,
            )
            service = Container(
                "run",
                config=config,
                env=health,
                volumes=[f"{volume}:{STATE}"],
                options=fast_health,
            )
            containers.append(service)
            wait_for(lambda: health_status(service) == "healthy", 60, "healthy", service)

            status = service.exec("cat", "/proc/1/status")
            uids = next(line for line in status.stdout.splitlines() if line.startswith("Uid:"))
            assert uids.split()[1:] == [str(UID)] * 4, uids
            assert service.exec("newsalert", "health").returncode == 0

            # A delivery in flight when the stop comes: the receiver takes 3 s to answer it.
            hook.script([Reply(204, "", delay=3)])
            story = feeds.add("f00")
            hook.wait(1, within=30)
            stopping = time.monotonic()
            code = service.stop(grace=10)
            took = time.monotonic() - stopping
            events = [e.get("event") for e in service.events()]

            assert code == 0, service.tail()
            assert took < 10, f"stopped after {took:.1f} s, past the grace period"
            assert took > 2, f"stopped after {took:.1f} s: the delivery in flight was not awaited"
            assert "service_stopped" in events, service.tail()
            assert "drain_deadline_passed" not in events, service.tail()
            [delivered] = hook.received
            assert delivered.json()["data"]["article"]["title"] == story.title

            # Drained means recorded as delivered: a second run on the same state sends
            # nothing again.
            again = Container("run", "--once", config=config, volumes=[f"{volume}:{STATE}"])
            containers.append(again)
            assert again.wait(120) == 0, again.tail()
            assert hook.ids == [delivered.headers["webhook-id"]], "the drained alert came again"
    finally:
        for container in containers:
            container.remove()
        docker("volume", "rm", "-f", volume)


def health_status(container: Container) -> str:
    state = container.state()
    assert state["Running"], container.tail()
    return str(state.get("Health", {}).get("Status", "none"))


def wait_for(condition: Callable[[], bool], within: float, what: str, container: Container) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {within} s\n{container.tail()}")
        time.sleep(0.5)
