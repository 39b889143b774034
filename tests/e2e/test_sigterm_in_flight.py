"""SIGTERM while a delivery is in flight: the delivery completes, the process exits 0 within
10 s (README: "lets deliveries in flight finish within 10 s, and exits"), and a restart sends
nothing again."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.cli import NEWSALERT, WEBHOOK_SECRET, run_cli
from tests.support.feed_server import FeedServer, Reply
from tests.support.receivers import Reply as Answer
from tests.support.receivers import WebhookReceiver
from tests.support.sample_feeds import CHINA, rss

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}
HOLD_S = 4.0  # the receiver holds the request this long before answering 204


def test_sigterm_lets_the_delivery_in_flight_finish_then_exits_0(
    write_config: Callable[..., Path],
) -> None:
    with FeedServer() as feeds, WebhookReceiver(WEBHOOK_SECRET) as hook:
        url = feeds.route("/wire.xml", Reply(body=rss([CHINA])))
        config = write_config(url, webhook_url=hook.url)
        # delivery.timeout is 2s in write_config: give the held request room to finish.
        text = config.read_text(encoding="utf-8").replace("timeout: 2s", "timeout: 8s")
        config.write_text(text, encoding="utf-8")
        hook.script([Answer(204, "", delay=HOLD_S)])
        proc = subprocess.Popen(  # noqa: S603 - our own console script
            [NEWSALERT, "run", "-c", str(config)],
            env={**os.environ, **ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            [held] = hook.wait(1, within=20)  # recorded on arrival, answered HOLD_S later
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=15)
            took = time.monotonic() - signalled
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, stderr[-3000:]
        assert took < 10, f"exited {took:.1f}s after SIGTERM"
        # The signal landed while the request was held, and the process waited for the answer.
        answered = held.at + HOLD_S
        assert signalled < answered - 1
        assert signalled + took >= answered - 0.2, "exited before the delivery was answered"
        assert "Traceback" not in stderr, stderr[-3000:]
        assert held.verified

        # The restart finds the alert recorded as delivered: nothing is sent again.
        again = run_cli("run", "--once", "-c", str(config), env=ENV)
        assert again.returncode == 0, again.stderr[-3000:]
        time.sleep(0.5)
        assert len(hook.received) == 1, [r.headers.get("webhook-id") for r in hook.received]
