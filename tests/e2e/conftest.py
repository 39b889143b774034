"""Fixtures for the e2e tests: a config writer aimed at local servers (helpers: tests.support)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    def write(
        feed_url: str,
        *,
        slack_url: str | None = None,
        webhook_url: str | None = None,
        backfill: str = "all",
        max_attempts: int = 3,
    ) -> Path:
        dests = ["  - name: console\n    type: console\n"]
        targets = ["console"]
        if slack_url:
            dests.append(
                f"  - name: markets\n    type: slack\n    url: {slack_url}\n    min_interval: 0s\n"
            )
            targets.append("markets")
        if webhook_url:
            dests.append(
                f"  - name: audit\n    type: webhook\n    url: {webhook_url}\n    secret: ${{HOOK_SECRET}}\n"
            )
            targets.append("audit")
        text = textwrap.dedent(
            f"""\
            state_dir: {tmp_path / "state"}
            health:
              port: 0
            network:
              allow_private: true
            polling:
              interval: 1s
              backfill: {backfill}
            feeds:
              - name: wire
                url: {feed_url}
            watchlists:
              - name: china
                query: 'China OR Chinese OR Beijing OR PBoC'
                destinations: [{", ".join(targets)}]
              - name: ico
                query: '`ICO` OR "token sale"'
                destinations: [{", ".join(targets)}]
            delivery:
              max_attempts: {max_attempts}
              initial_backoff: 100ms
              max_backoff: 1s
              timeout: 2s
            destinations:
            """
        ) + "".join(dests)
        path = tmp_path / "newsalert.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
