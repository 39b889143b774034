"""Build each configured destination and its delivery policy from the settings."""

from __future__ import annotations

import httpx

from consumers.delivery import DeliveryPolicy
from consumers.destinations.base import Destination
from consumers.destinations.console import ConsoleDestination
from consumers.destinations.discord import DiscordDestination
from consumers.destinations.email import EmailDestination
from consumers.destinations.ntfy import NtfyDestination
from consumers.destinations.slack import SlackDestination
from consumers.destinations.slack_app import FirstMessages, MemoryFirstMessages, SlackAppDestination
from consumers.destinations.teams import TeamsDestination
from consumers.destinations.telegram import DEFAULT_API_URL, TelegramDestination
from consumers.destinations.webhook import WebhookDestination
from consumers.holding import DigestAt, DigestEvery, Flood, HoldPolicy, QuietHours
from consumers.story_desk import StoryDesk, StoryLog
from service.metrics import Metrics
from service.settings import DestinationConfig, Settings


def build_destinations(
    settings: Settings,
    client: httpx.AsyncClient,
    first_messages: FirstMessages | None = None,
) -> dict[str, Destination]:
    """Each configured destination; `first_messages` keeps Slack app mode's first message of
    each story (the SQLite store in embedded mode; without it, the process's memory)."""
    first = first_messages if first_messages is not None else MemoryFirstMessages()
    out: dict[str, Destination] = {}
    for cfg in settings.destinations:
        timeout = settings.destination_delivery(cfg).timeout
        allow_private = settings.destination_allow_private(cfg)
        url = cfg.url.get_secret_value() if cfg.url else ""
        dest: Destination
        if cfg.app_mode:
            dest = SlackAppDestination(
                cfg.name,
                cfg.token.get_secret_value() if cfg.token else "",
                cfg.channel or "",
                cfg.slack_api_url,
                client,
                first,
                updates=cfg.updates if cfg.updates in ("thread", "edit") else None,
                timeout=timeout,
                allow_private=allow_private,
            )
        elif cfg.type == "slack":
            dest = SlackDestination(
                cfg.name, url, client, timeout=timeout, allow_private=allow_private
            )
        elif cfg.type == "webhook":
            secret = cfg.secret.get_secret_value() if cfg.secret else None
            dest = WebhookDestination(
                cfg.name, url, secret, client, timeout=timeout, allow_private=allow_private
            )
        elif cfg.type == "discord":
            dest = DiscordDestination(
                cfg.name, url, client, timeout=timeout, allow_private=allow_private
            )
        elif cfg.type == "teams":
            dest = TeamsDestination(
                cfg.name, url, client, timeout=timeout, allow_private=allow_private
            )
        elif cfg.type == "ntfy":
            token = cfg.token.get_secret_value() if cfg.token else None
            dest = NtfyDestination(
                cfg.name,
                url,
                token,
                client,
                timeout=timeout,
                allow_private=allow_private,
                priority_watchlists=priority_watchlists(settings),
            )
        elif cfg.type == "telegram":
            dest = TelegramDestination(
                cfg.name,
                cfg.bot_token.get_secret_value() if cfg.bot_token else "",
                cfg.chat_id if cfg.chat_id is not None else "",
                client,
                api_url=cfg.api_url.get_secret_value() if cfg.api_url else DEFAULT_API_URL,
                timeout=timeout,
                allow_private=allow_private,
            )
        elif cfg.type == "email":
            dest = email_destination(cfg, settings, timeout=timeout, allow_private=allow_private)
        else:
            dest = ConsoleDestination(cfg.name)
        if cfg.min_interval is not None:
            dest.min_interval = cfg.min_interval
        out[cfg.name] = dest
    return out


def email_destination(
    cfg: DestinationConfig, settings: Settings, *, timeout: float, allow_private: bool
) -> EmailDestination:
    """The config check guarantees host, port, tls, from and to for an email destination."""
    assert cfg.host and cfg.port and cfg.tls and cfg.from_ and cfg.to
    return EmailDestination(
        cfg.name,
        host=cfg.host,
        port=cfg.port,
        tls=cfg.tls,
        sender=cfg.from_,
        recipients=cfg.to,
        username=cfg.username.get_secret_value() if cfg.username else None,
        password=cfg.password.get_secret_value() if cfg.password else None,
        timeout=timeout,
        allow_private=allow_private,
        ca_bundle=settings.network.ca_bundle,
    )


def policies_of(settings: Settings) -> dict[str, DeliveryPolicy]:
    return {
        d.name: DeliveryPolicy(**settings.destination_delivery(d).model_dump())
        for d in settings.destinations
    }


def story_desk(settings: Settings, log: StoryLog, metrics: Metrics) -> StoryDesk:
    """Story grouping per destination; webhook destinations with `updates: true` and Slack app
    mode with `updates: thread` or `edit` take updates (later copies of a story)."""
    return StoryDesk(
        settings.stories.window,
        settings.stories.max_sources,
        log,
        metrics,
        takes_updates=[d.name for d in settings.destinations if d.takes_story_updates],
    )


def hold_policies_of(settings: Settings) -> dict[str, HoldPolicy]:
    """Each destination's flood limit, digest schedule and quiet hours, as the hold step reads them."""
    return {d.name: hold_policy(d) for d in settings.destinations}


def hold_policy(dest: DestinationConfig) -> HoldPolicy:
    digest: DigestEvery | DigestAt | None = None
    if dest.digest is not None:
        if dest.digest.every is not None:
            digest = DigestEvery(dest.digest.every)
        else:
            digest = DigestAt(tuple(dest.digest.at or ()), dest.digest.timezone)
    return HoldPolicy(
        flood=Flood(dest.flood.max, dest.flood.per) if dest.flood else None,
        digest=digest,
        quiet_hours=(
            QuietHours(dest.quiet_hours.start, dest.quiet_hours.end, dest.quiet_hours.timezone)
            if dest.quiet_hours
            else None
        ),
    )


def priority_watchlists(settings: Settings) -> frozenset[str]:
    return frozenset(w.name for w in settings.watchlists if w.priority)
