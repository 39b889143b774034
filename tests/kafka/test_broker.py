"""The local broker behaves as the pipeline relies on: ordered keys, idempotent producers,
committed offsets that survive a consumer restart, and data that survives a broker restart."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.kafka

KEYS = ["markets", "audit", "console"]
PER_KEY = 5


async def create_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def list_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, messages: list[tuple[str, str]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send(topic, key=key.encode(), value=value.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def drain(
    consumer: AIOKafkaConsumer, want: int, quiet_s: float = 1.0
) -> list[tuple[str, str, int]]:
    """Read until `want` records arrived (or 30 s passed), then listen `quiet_s` for extras."""
    got: list[tuple[str, str, int]] = []
    deadline = asyncio.get_running_loop().time() + 30
    while len(got) < want and asyncio.get_running_loop().time() < deadline:
        batches = await consumer.getmany(timeout_ms=500)
        for records in batches.values():
            got += [(r.key.decode(), r.value.decode(), r.partition) for r in records]
    batches = await consumer.getmany(timeout_ms=int(quiet_s * 1000))
    for records in batches.values():
        got += [(r.key.decode(), r.value.decode(), r.partition) for r in records]
    return got


def group_consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def test_keyed_messages_arrive_in_order_and_commits_survive_restart(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.alerts"
    group = f"{topic_prefix}.notifier"
    await create_topic(kafka_bootstrap, topic)
    # Interleave the keys so per-key order is not just send order by accident of batching.
    sent = [(key, f"{key}-{i}") for i in range(PER_KEY) for key in KEYS]
    await produce(kafka_bootstrap, topic, sent)

    first = group_consumer(kafka_bootstrap, topic, group)
    await first.start()
    try:
        got = await drain(first, want=len(sent))
        await first.commit()
    finally:
        await first.stop()

    assert len(got) == len(sent), "every message is read exactly once"
    by_key: dict[str, list[str]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for key, value, partition in got:
        by_key[key].append(value)
        partitions[key].add(partition)
    assert by_key == {key: [f"{key}-{i}" for i in range(PER_KEY)] for key in KEYS}
    assert all(len(parts) == 1 for parts in partitions.values()), "one key, one partition"

    # A restarted member of the group resumes after the commit: it sees only new messages.
    await produce(kafka_bootstrap, topic, [("markets", "after-restart")])
    second = group_consumer(kafka_bootstrap, topic, group)
    await second.start()
    try:
        again = await drain(second, want=1)
    finally:
        await second.stop()
    assert [value for _, value, _ in again] == ["after-restart"]


def port_open(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def process_running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return re.search(r"^State:\s+Z", status, re.MULTILINE) is None  # a zombie has exited


def script(kafka_script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script, fixed argv
        [sys.executable, str(kafka_script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
async def test_script_stops_the_broker_and_restarts_it_with_its_data(
    kafka_script: Path, tmp_path: Path, topic_prefix: str
) -> None:
    run_dir = tmp_path / "broker"
    try:
        started = script(kafka_script, "start", "--dir", str(run_dir))
        assert started.returncode == 0, started.stderr
        bootstrap = re.findall(r"^bootstrap=(\S+)$", started.stdout, re.MULTILINE)[-1]
        assert (run_dir / "bootstrap").read_text().strip() == bootstrap
        pid = int((run_dir / "pid").read_text())
        topic = f"{topic_prefix}.articles"
        await create_topic(bootstrap, topic)

        stopped = script(kafka_script, "stop", "--dir", str(run_dir))
        assert stopped.returncode == 0, stopped.stderr
        assert not port_open(bootstrap)
        assert not process_running(pid)
        assert script(kafka_script, "status", "--dir", str(run_dir)).returncode == 1

        restarted = script(kafka_script, "start", "--dir", str(run_dir))
        assert restarted.returncode == 0, restarted.stderr
        assert f"bootstrap={bootstrap}" in restarted.stdout, "same address after a restart"
        assert topic in await list_topics(bootstrap)
    finally:
        script(kafka_script, "stop", "--dir", str(run_dir))
