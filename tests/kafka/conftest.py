"""tests/kafka: every test here is marked `kafka`; the broker's jars are fetched before the
first test runs. The broker itself and `topic_prefix` come from tests/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.broker import SCRIPT, START_TIMEOUT_S, fail_without_tools, tools_missing

HERE = Path(__file__).resolve().parent


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


@pytest.fixture(scope="session")
def kafka_script() -> Path:
    """scripts/kafka, once Java is known to be there (for tests that run brokers themselves)."""
    reason = tools_missing()
    if reason is not None:
        fail_without_tools(reason)
    return SCRIPT
