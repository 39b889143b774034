"""`newsalert dlq list|replay` in Kafka mode: dead letters live in `<prefix>.alerts.dlq`.

A dead letter is listed while the delivery log's latest outcome for its alert is "dead";
replaying publishes the alert to the alerts topic again and records "replayed", so the
notifiers deliver it with a fresh attempt budget.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from service.bus.base import ALERTS, ALERTS_DLQ
from service.bus.kafka import DELIVERIES, KafkaBus
from service.models import Alert


@dataclass(frozen=True)
class DeadLetter:
    alert: Alert
    destination: str
    attempts: int
    error: str


async def dead_letters(bus: KafkaBus) -> list[DeadLetter]:
    outcomes = {key: json.loads(value)["outcome"] for key, value in await bus.read_all(DELIVERIES)}
    letters: dict[str, DeadLetter] = {}
    for key, value in await bus.read_all(ALERTS_DLQ):
        data: dict[str, Any] = json.loads(value)
        if outcomes.get(key) == "dead":
            letters[key] = DeadLetter(
                alert=Alert.model_validate(data["alert"]),
                destination=data["destination"],
                attempts=int(data["attempts"]),
                error=str(data["error"]),
            )
    return list(letters.values())


async def replay(bus: KafkaBus, letters: list[DeadLetter]) -> int:
    for letter in letters:
        # The outcome first: a notifier that sees the alert again then finds it "replayed".
        value = json.dumps({"outcome": "replayed", "at": time.time()}).encode()
        await bus.publish(DELIVERIES, [(letter.alert.id, value)])
        await bus.publish(ALERTS, [(letter.destination, letter.alert.model_dump_json().encode())])
    return len(letters)
