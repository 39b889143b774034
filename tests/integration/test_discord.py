"""The Discord destination against a real local receiver: payload, limits, classification."""

from __future__ import annotations

import httpx
import pytest

from consumers.destinations.discord import DiscordDestination, render_discord
from consumers.errors import DeliveryError
from tests.integration.test_destinations import make_alert
from tests.support.alerts import make_digest, make_health, many_alerts
from tests.support.receivers import Reply, WebhookReceiver


def test_render_keeps_discord_limits() -> None:
    alert = make_alert(title="x" * 500)
    embed = render_discord(alert)["embeds"][0]
    assert len(embed["title"]) == 256
    assert render_discord(alert)["allowed_mentions"] == {"parse": []}


@pytest.mark.parametrize(
    ("reply", "retriable", "wait"),
    [
        (Reply(429, '{"message":"You are being rate limited.","retry_after":1.5}'), True, 1.5),
        (Reply(404, '{"message":"Unknown Webhook","code":10015}'), False, None),
        (Reply(401, '{"message":"401: Unauthorized"}'), False, None),
        (Reply(503, "busy"), True, None),
    ],
)
async def test_discord_classifies_answers(
    reply: Reply, retriable: bool, wait: float | None
) -> None:
    async with WebhookReceiver() as receiver, httpx.AsyncClient() as client:
        receiver.script([reply])
        dest = DiscordDestination("d", receiver.url, client, timeout=5, allow_private=True)
        with pytest.raises(DeliveryError) as caught:
            await dest.send(make_alert())
        assert caught.value.retriable is retriable
        assert caught.value.retry_after == wait
        assert receiver.url not in str(caught.value)


async def test_discord_receives_embed() -> None:
    async with WebhookReceiver() as receiver, httpx.AsyncClient() as client:
        dest = DiscordDestination("d", receiver.url, client, timeout=5, allow_private=True)
        await dest.send(make_alert())
        [request] = receiver.received
        assert request.json()["embeds"][0]["title"] == "Beijing weighs yuan move"


async def test_discord_receives_digest_and_feed_health() -> None:
    async with WebhookReceiver() as receiver, httpx.AsyncClient() as client:
        dest = DiscordDestination("d", receiver.url, client, timeout=5, allow_private=True)
        await dest.send_digest(make_digest(many_alerts(600)))
        await dest.send_feed_health(make_health("failing"))
        digest, health = receiver.received
        embed = digest.json()["embeds"][0]
        assert embed["title"] == "Digest: 600 stories, 2024-05-01 12:00–13:00 UTC"
        assert len(embed["description"]) <= 4096
        assert embed["description"].rsplit("\n", 1)[1].endswith("more")
        assert health.json()["embeds"][0]["description"].startswith("Feed wire is failing")
