"""The Kafka outbox's bookkeeping: alerts finish out of order, commits never pass an unfinished one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from aiokafka import TopicPartition

from consumers.kafka_outbox import DeliveryLog, KafkaOutbox, Outcome
from consumers.story_desk import StoryDesk
from service.bus.kafka import KafkaBus
from service.metrics import Metrics
from service.models import Alert, Article, FeedRef, WatchlistMatch, alert_id

NOW = datetime(2026, 11, 28, tzinfo=UTC)
TP0 = TopicPartition("x.alerts", 0)
TP1 = TopicPartition("x.alerts", 1)


class FakeBus:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, bytes]] = []

    async def publish(self, topic: str, messages: list[tuple[str, bytes]]) -> None:
        self.published += [(topic, k, v) for k, v in messages]


class FakeLog:
    def __init__(self, outcomes: dict[str, Outcome] | None = None) -> None:
        self.outcomes: dict[str, Outcome] = dict(outcomes or {})

    def outcome(self, alert_id: str) -> Outcome | None:
        return self.outcomes.get(alert_id)

    async def caught_up(self) -> None:
        pass

    async def record(self, alert_id: str, outcome: Outcome) -> None:
        self.outcomes[alert_id] = outcome


def alert(n: int, destination: str = "hook") -> bytes:
    article = Article(
        id=f"a{n}",
        feed=FeedRef(name="f", url="https://e.org/rss"),
        title=f"t{n}",
        summary="",
        link="https://e.org/",
        published=None,
        fetched_at=NOW,
    )
    return (
        Alert(
            id=alert_id(article.id, destination),
            destination=destination,
            article=article,
            matches=[WatchlistMatch(watchlist="w", terms=["t"])],
            created_at=NOW,
        )
        .model_dump_json()
        .encode()
    )


def outbox(log: FakeLog | None = None) -> tuple[KafkaOutbox, FakeBus, FakeLog]:
    bus, log = FakeBus(), log or FakeLog()
    no_grouping = StoryDesk.ungrouped(Metrics())
    box = KafkaOutbox(
        cast(KafkaBus, bus),
        cast(DeliveryLog, log),
        ["hook", "slack"],
        no_grouping,
        clock=lambda: 100.0,
    )
    return box, bus, log


async def test_commit_stops_at_the_oldest_unfinished_alert() -> None:
    box, _, _ = outbox()
    for offset in range(3):
        assert await box.take(TP0, offset, alert(offset)) == "hook"
    assert box.committable() == {TP0: 0}
    [first] = await box.due("hook", 100.0, 1)
    [second] = await box.due("hook", 100.0, 1)
    await box.mark_delivered(second.alert_id, 1)  # finishes out of order
    assert box.committable() == {TP0: 0}
    await box.mark_delivered(first.alert_id, 1)
    assert box.committable() == {TP0: 2}
    box.committed({TP0: 2})
    assert box.committable() == {}


async def test_delivered_and_dead_alerts_are_not_taken_again() -> None:
    done = Alert.model_validate_json(alert(1)).id
    dead = Alert.model_validate_json(alert(2)).id
    replayed = Alert.model_validate_json(alert(3)).id
    box, _, _ = outbox(FakeLog({done: "delivered", dead: "dead", replayed: "replayed"}))
    assert await box.take(TP0, 0, alert(1)) is None
    assert await box.take(TP0, 1, alert(2)) is None
    assert await box.take(TP0, 2, alert(3)) == "hook"
    assert await box.take(TP0, 3, alert(3)) is None  # a repeat of one in hand
    assert len(box) == 1
    assert box.committable() == {TP0: 2}


async def test_unknown_destination_and_unreadable_records_do_not_block_commits() -> None:
    box, _, _ = outbox()
    assert await box.take(TP1, 0, alert(1, destination="gone")) is None
    assert await box.take(TP1, 1, b"not json") is None
    assert box.committable() == {TP1: 2}


async def test_dead_letter_goes_to_the_dlq_topic_and_the_log() -> None:
    box, bus, log = outbox()
    await box.take(TP0, 0, alert(1))
    [row] = await box.due("hook", 100.0, 1)
    await box.mark_dead(row.alert_id, 8, "HTTP 500")
    [(topic, key, value)] = bus.published
    assert topic == "alerts.dlq" and key == row.alert_id and b'"HTTP 500"' in value
    assert log.outcomes[row.alert_id] == "dead"
    assert box.committable() == {TP0: 1}


async def test_retry_waits_and_other_destinations_go_on() -> None:
    box, _, _ = outbox()
    await box.take(TP0, 0, alert(1, "hook"))
    await box.take(TP0, 1, alert(2, "slack"))
    [row] = await box.due("hook", 100.0, 1)
    await box.mark_retry(row.alert_id, 1, "HTTP 503", at=160.0)
    assert await box.due("hook", 100.0, 1) == []
    assert await box.next_due_at("hook") == 160.0
    assert [r.destination for r in await box.due("slack", 100.0, 1)] == ["slack"]
    assert [r.alert_id for r in await box.due("hook", 160.0, 1)] == [row.alert_id]


async def test_revoke_drops_waiting_alerts_and_waits_for_the_one_being_sent() -> None:
    box, _, _ = outbox()
    for offset in range(3):
        await box.take(TP0, offset, alert(offset))
    [sending] = await box.due("hook", 100.0, 1)
    revoking = asyncio.create_task(box.revoke({TP0}))
    await asyncio.sleep(0.05)
    assert not revoking.done()  # the send under way must finish first
    await box.mark_delivered(sending.alert_id, 1)
    final: dict[Any, int] = await asyncio.wait_for(revoking, 1)
    assert final == {TP0: 1}  # the two never sent are re-read by the next owner
    assert len(box) == 0
