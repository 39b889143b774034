"""A real Apache Kafka broker, from outside: starting one with scripts/kafka, and reading it.

The fixtures in tests/conftest.py start the broker through `start_broker`; tests read topics
(`read_topic`, `list_topics`) to check what the stages wrote, and `kafka_section` gives a
config's `kafka:` section for a test's own topic prefix.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka"
# Generous: a cold Maven cache downloads ~45 jars before the broker can start.
START_TIMEOUT_S = 600


class BrokerUnavailableError(Exception):
    """scripts/kafka cannot give us a broker; the message says why, for the test report."""


def tools_missing() -> str | None:
    """Why scripts/kafka cannot run here, or None when it can (it needs Java and Maven)."""
    missing = []
    home = os.environ.get("JAVA_HOME")
    if not (home and (Path(home) / "bin" / "java").is_file()) and not shutil.which("java"):
        missing.append("java is not installed (scripts/kafka needs a Java 17+ JVM to run Kafka)")
    if not shutil.which("mvn"):
        missing.append("mvn is not installed (scripts/kafka fetches Kafka's jars with Maven)")
    return "; ".join(missing) or None


def fail_without_tools(reason: str) -> NoReturn:
    """No Kafka test may be skipped, in CI or not: ./scripts/test must fail without them."""
    pytest.fail(
        f"the Kafka tests cannot run: {reason}. Install Java 17+ and Maven, or set "
        "NEWSALERT_TEST_KAFKA=host:port to use a running broker.",
        pytrace=False,
    )


def run_script(*args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """scripts/kafka ARGS... to completion (fetch, start --dir, stop --dir)."""
    return subprocess.run(  # noqa: S603 - our own script, fixed argv
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def start_broker(run_dir: Path) -> Iterator[str]:
    """A single-node KRaft broker in `run_dir` for the block: its bootstrap address.

    Raises `BrokerUnavailableError` with scripts/kafka's own explanation when it cannot start.
    """
    started = run_script("start", "--dir", str(run_dir))
    found = re.search(r"^bootstrap=(\S+)$", started.stdout, re.MULTILINE)
    if started.returncode != 0 or found is None:
        # Stop whatever half-started, then report the script's own explanation.
        run_script("stop", "--dir", str(run_dir), timeout=60)
        raise BrokerUnavailableError(f"scripts/kafka start failed:\n{started.stderr}")
    try:
        yield found.group(1)
    finally:
        run_script("stop", "--dir", str(run_dir), timeout=60)


def kafka_section(bootstrap: str, prefix: str, **extra: Any) -> dict[str, Any]:
    """The config's `kafka:` section for a test's own topics."""
    return {"bootstrap_servers": bootstrap, "topic_prefix": prefix, **extra}


async def read_topic(bootstrap: str, topic: str) -> list[tuple[str, bytes, int]]:
    """Every record now in `topic` as (key, value, partition), read without a consumer group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described.get("partitions", ())]
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[tuple[str, bytes, int]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in partitions]
            if all(pos >= ends[tp] for pos, tp in zip(positions, partitions, strict=True)):
                break
            batches = await consumer.getmany(timeout_ms=1000)
            for batch in batches.values():
                records += [(r.key.decode() if r.key else "", r.value, r.partition) for r in batch]
        return records
    finally:
        await consumer.stop()


def kafka_script_run(script: Path, *args: str, timeout: float = 300) -> tuple[int, str, str]:
    """Run scripts/kafka with `args`: (exit code, stdout, stderr)."""
    done = subprocess.run(  # noqa: S603 - our own script, fixed argv
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


async def list_topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()
