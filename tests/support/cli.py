"""The real `newsalert` console script of this virtualenv, run as a subprocess.

Tests and benches that exercise the command as a user would (e2e, faults, hostile feeds, the
Kafka stages) find it here, with the one Standard Webhooks secret their configs sign with.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

NEWSALERT = str(Path(sys.executable).with_name("newsalert"))
# The signing secret every test config and receiver here shares ("whsec_" + base64).
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`newsalert ARGS...` to completion: exit code, stdout and stderr as text."""
    return subprocess.run(  # noqa: S603 - our own console script with test arguments
        [NEWSALERT, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def state_count(state_dir: Path, sql: str) -> int:
    """What a `SELECT count(*) ...` finds in a running service's own SQLite file.

    For tests that kill the process once something is recorded, not merely sent: a kill between
    a send and its record sends it again with the same id (at least once), another claim.
    """
    uri = f"{(state_dir / 'newsalert.db').as_uri()}?mode=ro"  # never creates an empty file
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
        (count,) = db.execute(sql).fetchone()
    return int(count)
