"""Time `newsalert run --once` over saved copies of real feeds, with the default watchlists.

Serves every capture under ../shared/realdata/feeds on a local HTTP server, writes a config that
keeps config/newsalert.yaml's watchlists but points its feeds at those copies (backfill: all,
so every item is matched), runs the real command, and prints one JSON line of figures:
feeds, articles, alerts, wall seconds and the child's peak resident memory.

    .venv/bin/python -m bench.run_once [--realdata DIR]
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".md", ".json", ".tsv"}


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=ROOT.parent / "shared" / "realdata")
    args = parser.parse_args()
    feeds_dir = args.realdata / "feeds"
    if not feeds_dir.is_dir():
        print(f"no saved feeds at {feeds_dir}", file=sys.stderr)
        return 2
    files = sorted(
        p
        for p in feeds_dir.rglob("*")
        if p.is_file()
        and p.suffix not in SKIP
        and "LICENSE" not in p.name
        and "README" not in p.name
    )
    handler = functools.partial(QuietHandler, directory=str(feeds_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    default = yaml.safe_load((ROOT / "config" / "newsalert.yaml").read_text(encoding="utf-8"))

    with tempfile.TemporaryDirectory() as tmp:
        config = {
            "state_dir": str(Path(tmp) / "state"),
            "health": {"port": 0},
            "network": {"allow_private": True},
            "polling": {"backfill": "all", "max_items": 1000},
            "logging": {"format": "json"},
            "feeds": [
                {
                    "name": f"f{i:02d}-{p.stem[:40]}".replace(".", "-"),
                    "url": f"http://127.0.0.1:{port}/{p.relative_to(feeds_dir).as_posix()}",
                }
                for i, p in enumerate(files)
            ],
            "watchlists": default["watchlists"],
            # The default watchlists use its concept sets, named relative to config/.
            "concepts": [str(ROOT / "config" / c) for c in default.get("concepts", [])],
            "destinations": default["destinations"],
        }
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        started = time.perf_counter()
        result = subprocess.run(  # noqa: S603 - our own console script
            [str(Path(sys.executable).with_name("newsalert")), "run", "--once", "-c", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
    server.shutdown()
    finished = [
        json.loads(line) for line in result.stderr.splitlines() if '"run_once_finished"' in line
    ]
    summary = finished[0] if finished else {}
    figures = {
        "feeds": len(files),
        "feeds_failed": summary.get("feeds_failed"),
        "articles": summary.get("articles"),
        "alerts": len([line for line in result.stdout.splitlines() if line.strip()]),
        "wall_s": round(elapsed, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "exit_code": result.returncode,
    }
    print(json.dumps(figures))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
