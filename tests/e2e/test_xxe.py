"""XXE: a feed whose external entities name a local file never carries that file's content
into an alert or a log. `newsalert run --once` (debug logs) against a local feed server and a
local receiver; every receiver body, stdout and stderr are searched for the file's marker."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import WEBHOOK_SECRET, run_cli
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import WebhookReceiver

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}


def _general(secret: Path) -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8'?>"
        f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        "<rss version='2.0'><channel><title>Wire &xxe;</title><link>https://news.example.org/</link>"
        "<description>wire</description><item><guid isPermaLink='false'>x1</guid>"
        "<title>China leaks &xxe;</title><link>https://news.example.org/x1</link>"
        "<description>Beijing &xxe; said</description></item></channel></rss>"
    ).encode()


def _parameter(secret: Path) -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8'?>"
        f'<!DOCTYPE rss [<!ENTITY % file SYSTEM "file://{secret}">'
        "<!ENTITY % wrap \"<!ENTITY leak '&#x25;file;'>\"> %wrap; ]>"
        "<rss version='2.0'><channel><title>Wire</title><link>https://news.example.org/</link>"
        "<description>wire</description><item><guid isPermaLink='false'>x2</guid>"
        "<title>China leaks &leak;</title><link>https://news.example.org/x2</link>"
        "<description>Beijing &leak; said</description></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize("document", [_general, _parameter], ids=["general", "parameter"])
def test_external_entity_never_carries_a_local_file_into_alerts_or_logs(
    tmp_path: Path, write_config: Callable[..., Path], document: Callable[[Path], bytes]
) -> None:
    marker = f"XXE-MARKER-{secrets.token_hex(8)}"
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{marker}\n", encoding="utf-8")
    with FeedServer() as feeds, WebhookReceiver(WEBHOOK_SECRET) as hook:
        url = feeds.route("/wire.xml", Reply(body=document(secret)))
        config = write_config(url, webhook_url=hook.url)
        text = config.read_text(encoding="utf-8") + "logging: {level: debug, format: json}\n"
        config.write_text(text, encoding="utf-8")
        result = run_cli("run", "--once", "-c", str(config), env=ENV)
        bodies = [r.body.decode("utf-8", "replace") for r in hook.received]

    assert result.returncode == 0, result.stderr[-3000:]
    # The item itself went through (so there was an alert that could have leaked)...
    assert len(bodies) == 1, result.stderr[-3000:]
    assert "China leaks" in bodies[0] and "China leaks" in result.stdout
    # ...and nowhere does the file's content show.
    for name, output in {"webhook body": bodies[0], "stdout": result.stdout}.items():
        assert marker not in output, f"the local file's content is in the {name}"
    assert marker not in result.stderr, "the local file's content is in the logs"
