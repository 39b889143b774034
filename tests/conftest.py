"""Fixtures more than one test folder uses: the session's real Kafka broker (tests/kafka and
tests/container) and a topic prefix per test. Here, at the root, so that one broker serves
the whole session; the helpers behind them live in tests/support/broker.py.

NEWSALERT_TEST_KAFKA=host:port uses an existing broker; otherwise scripts/kafka starts a
single-node KRaft broker for the session and stops it at the end. Without Java or Maven every
test that needs the broker FAILS, in CI or not, with a message saying what to install: the suite
must never pass (or skip) with no Kafka test run.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest

from tests.support.broker import (
    BrokerUnavailableError,
    fail_without_tools,
    start_broker,
    tools_missing,
)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("NEWSALERT_TEST_KAFKA")
    if external:
        yield external
        return
    reason = tools_missing()
    if reason is not None:
        fail_without_tools(reason)
    try:
        with start_broker(tmp_path_factory.mktemp("kafka")) as bootstrap:
            yield bootstrap
    except BrokerUnavailableError as unavailable:
        pytest.fail(str(unavailable), pytrace=False)


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A prefix no other test (or earlier run on a shared broker) uses, for topics and groups."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:60]
    return f"t-{name}-{uuid.uuid4().hex[:8]}"
