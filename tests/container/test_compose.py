"""compose.yaml's poller, matcher and notifier services, started by docker-compose against the
test broker on 127.0.0.1, carry a story to a signed webhook.

What runs, and what does not: compose.yaml's `kafka` service is not started (its image comes
from a registry, which this machine cannot reach); `--no-deps` starts the three newsalert
services without it, and an override file puts them on the host's network, points them at the
test broker, mounts the test's config over ./config and shortens the HEALTHCHECK interval.
Debian bookworm's docker-compose is 1.29, which predates the Compose Specification's top-level
`name:`, so it reads compose.yaml without that one key (`-p` names the project instead); the
file itself is checked against the specification's schema by scripts/lint-container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.container.engine import REPO, apt_install, config_dir, docker, free_port, skip_or_fail
from tests.support.broker import kafka_section
from tests.support.cli import WEBHOOK_SECRET
from tests.support.feed_server import FeedServer
from tests.support.receivers import WebhookReceiver
from tests.support.rig import wait_delivered, wait_until, write_config
from tests.support.story_feeds import StoryFeeds

ROLES = ("poller", "matcher", "notifier")


def compose_binary() -> str:
    found = shutil.which("docker-compose")
    if found is None and os.geteuid() == 0:
        problem = apt_install("docker-compose")
        found = shutil.which("docker-compose")
        if found is None:
            skip_or_fail(problem or "apt-get installed docker-compose, but it is not on PATH")
    if found is None:
        skip_or_fail("docker-compose is not installed, and installing it needs root")
    return found


def override(image: str, bootstrap: str, config: Path) -> dict[str, Any]:
    services = {
        role: {
            "image": image,
            "network_mode": "host",
            "environment": {
                "NEWSALERT_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
                # One health port per service: they share the host's network.
                "NEWSALERT_HEALTH__HOST": "127.0.0.1",
                "NEWSALERT_HEALTH__PORT": str(free_port()),
            },
            "volumes": [f"{config.parent}:/app/config:ro"],
            "healthcheck": {"interval": "1s", "start_period": "30s"},
        }
        for role in ROLES
    }
    return {"services": services}


@pytest.mark.timeout(900)
def test_compose_services_carry_a_story_through_the_host_broker(
    image: str, kafka_bootstrap: str, topic_prefix: str, share_dir: Path
) -> None:
    binary = compose_binary()
    spec = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    spec.pop("name", None)
    base_file = share_dir / "compose.yaml"
    base_file.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    project = topic_prefix.lower().replace(".", "-")[:50]

    def compose(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed argv
            [
                binary,
                "--project-directory",
                str(REPO),
                "-p",
                project,
                "-f",
                str(base_file),
                "-f",
                str(share_dir / "override.yaml"),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "TOPIC_PREFIX": topic_prefix},
        )

    with FeedServer() as server, WebhookReceiver(WEBHOOK_SECRET) as hook:
        feeds = StoryFeeds(server, 1)
        feeds.add("f00")
        config = write_config(
            config_dir(share_dir) / "newsalert.yaml",
            feeds=feeds.urls,
            webhook_url=hook.url,
            kafka=kafka_section(kafka_bootstrap, "overridden-by-compose"),
            state_dir=Path("/app/data"),
        )
        config.chmod(0o644)
        (share_dir / "override.yaml").write_text(
            yaml.safe_dump(override(image, kafka_bootstrap, config)), encoding="utf-8"
        )
        try:
            up = compose("up", "-d", "--no-build", "--no-deps", *ROLES)
            assert up.returncode == 0, up.stdout + up.stderr
            ids = {role: compose("ps", "-q", role).stdout.strip() for role in ROLES}
            assert all(ids.values()), ids

            def logs() -> str:
                return compose("logs", "--no-color", "--tail", "20").stdout

            result = wait_delivered(hook, feeds.expected(["hook"]), within=90, quiet=2)
            assert result.missing == [], logs()
            assert result.repeated == 0 and result.unverified == 0
            [request] = hook.received
            assert request.json()["data"]["article"]["title"] == feeds.stories[0].title

            def health(role: str) -> str:
                state = docker("inspect", "--format", "{{.State.Health.Status}}", ids[role])
                return state.stdout.strip()

            wait_until(lambda: all(health(r) == "healthy" for r in ROLES), 60, "healthy")
            began = time.monotonic()
            stopped = compose("stop", "-t", "10")
            assert stopped.returncode == 0, stopped.stderr
            assert time.monotonic() - began < 30
            for role, cid in ids.items():
                code = docker("inspect", "--format", "{{.State.ExitCode}}", cid).stdout.strip()
                assert code == "0", f"{role} exited {code}\n{logs()}"
        finally:
            compose("down", "-v", "--remove-orphans")
