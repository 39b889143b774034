"""What one email alert costs to send: render plus a whole SMTP session, against a local server.

Starts the tests' aiosmtpd server on 127.0.0.1 (tls none, STARTTLS with a certificate made now,
STARTTLS plus login) and sends N alerts one after the other through `EmailDestination`, as the
notifier would with `min_interval: 0s`. Prints per mode the median and 95th percentile of one
send and the messages per second. The server runs in a thread of this process and shares its
cores, so the figures are an upper bound on our side's cost, not a relay's speed.

    .venv/bin/python -m bench.email_send [--count 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from consumers.destinations.email import EmailDestination
from service.models import Alert, Article, FeedRef, WatchlistMatch
from tests.support.smtp_server import SmtpServer, self_signed, server_tls


def make_alert(i: int) -> Alert:
    article = Article(
        id=f"article-{i}",
        feed=FeedRef(name="wire", url="https://example.com/feed"),
        title=f"Beijing weighs yuan move, part {i}",
        summary="The PBoC & Chinese banks adjust. " * 8,
        link=f"https://example.com/yuan/{i}",
        published=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        fetched_at=datetime(2024, 5, 1, 12, 31, tzinfo=UTC),
    )
    return Alert(
        id=f"alert-{i}",
        destination="mail",
        article=article,
        matches=[WatchlistMatch(watchlist="china", terms=["Beijing", "yuan"])],
        created_at=datetime(2024, 5, 1, 12, 32, tzinfo=UTC),
    )


async def measure(dest: EmailDestination, count: int) -> list[float]:
    took = []
    for i in range(count):
        start = time.perf_counter()
        await dest.send(make_alert(i))
        took.append(time.perf_counter() - start)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    count = parser.parse_args().count
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = self_signed(Path(tmp))
        modes = [
            ("none", {}, {}),
            ("starttls", {"starttls": server_tls(cert, key)}, {}),
            (
                "starttls+login",
                {"starttls": server_tls(cert, key), "users": {"bot": "secret"}},
                {"username": "bot", "password": "secret"},
            ),
        ]
        print("mode            sends  median ms  p95 ms  messages/s")
        for name, server_args, login in modes:
            with SmtpServer(**server_args) as smtp:  # type: ignore[arg-type]
                dest = EmailDestination(
                    "mail",
                    host="localhost",
                    port=smtp.port,
                    tls="none" if name == "none" else "starttls",
                    sender="alerts@news.example",
                    recipients=["a@example.org", "b@example.org"],
                    timeout=10.0,
                    allow_private=True,
                    ca_bundle=str(cert),
                    **login,  # type: ignore[arg-type]
                )
                took = asyncio.run(measure(dest, count))
                assert len(smtp.received) == count
            median = statistics.median(took) * 1000
            p95 = statistics.quantiles(took, n=20)[-1] * 1000
            rate = count / sum(took)
            print(f"{name:<15} {count:>5}  {median:>9.1f}  {p95:>6.1f}  {rate:>10.1f}")


if __name__ == "__main__":
    main()
