"""A real Apache Kafka broker for tests/kafka.

NEWSALERT_TEST_KAFKA=host:port uses an existing broker; otherwise scripts/kafka starts a
single-node KRaft broker for the session and stops it at the end. Without Java or Maven every
Kafka test FAILS, in CI or not, with a message saying what to install: the suite must never pass
(or skip) with no Kafka test run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SCRIPT = HERE.parents[1] / "scripts" / "kafka"
# Generous: a cold Maven cache downloads ~45 jars before the broker can start.
START_TIMEOUT_S = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.kafka)


def pytest_collection_finish(session: pytest.Session) -> None:
    # Fetch the jars here, outside any test's timeout, when a broker will be needed.
    wanted = any(HERE in item.path.parents for item in session.items)
    if wanted and not os.environ.get("NEWSALERT_TEST_KAFKA") and tools_missing() is None:
        subprocess.run(  # noqa: S603 - our own script, fixed argv
            [sys.executable, str(SCRIPT), "fetch"],
            capture_output=True,
            timeout=START_TIMEOUT_S,
            check=False,  # a failure is reported by the fixture, with mvn's output
        )


def tools_missing() -> str | None:
    """Why scripts/kafka cannot run here, or None when it can (it needs Java and Maven)."""
    missing = []
    home = os.environ.get("JAVA_HOME")
    if not (home and (Path(home) / "bin" / "java").is_file()) and not shutil.which("java"):
        missing.append("java is not installed (scripts/kafka needs a Java 17+ JVM to run Kafka)")
    if not shutil.which("mvn"):
        missing.append("mvn is not installed (scripts/kafka fetches Kafka's jars with Maven)")
    return "; ".join(missing) or None


def fail_without_tools(reason: str) -> None:
    """No Kafka test may be skipped, in CI or not: ./scripts/test must fail without them."""
    pytest.fail(
        f"the Kafka tests cannot run: {reason}. Install Java 17+ and Maven, or set "
        "NEWSALERT_TEST_KAFKA=host:port to use a running broker.",
        pytrace=False,
    )


def run_script(*args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script, fixed argv
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def kafka_script() -> Path:
    """scripts/kafka, once Java is known to be there (for tests that run brokers themselves)."""
    reason = tools_missing()
    if reason is not None:
        fail_without_tools(reason)
    return SCRIPT


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("NEWSALERT_TEST_KAFKA")
    if external:
        yield external
        return
    reason = tools_missing()
    if reason is not None:
        fail_without_tools(reason)
    run_dir = tmp_path_factory.mktemp("kafka")
    started = run_script("start", "--dir", str(run_dir))
    found = re.search(r"^bootstrap=(\S+)$", started.stdout, re.MULTILINE)
    if started.returncode != 0 or found is None:
        # Stop whatever half-started, then report the script's own explanation.
        run_script("stop", "--dir", str(run_dir), timeout=60)
        pytest.fail(f"scripts/kafka start failed:\n{started.stderr}", pytrace=False)
    try:
        yield found.group(1)
    finally:
        run_script("stop", "--dir", str(run_dir), timeout=60)


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A prefix no other test (or earlier run on a shared broker) uses, for topics and groups."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:60]
    return f"t-{name}-{uuid.uuid4().hex[:8]}"
