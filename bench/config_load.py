"""Load, check and compile a config of many watchlists: seconds per phase and peak memory.

For each N (default 10,000 and 100,000) it writes a config holding N generated watchlists
(the queries of bench/match.py's workload, broad unless told, over the real feed captures;
each routed to one of three destinations, one in ten `priority: true`), then, in a fresh
process per N, times the phases `newsalert match` goes through before its first article:

    .venv/bin/python -m bench.config_load [--sizes 10000,100000] [--workload broad] [--seed 1]

- yaml_s: reading the file into plain data (`service.yamlconf.load_yaml`);
- validate_s: the pydantic models (`Settings`);
- check_s: the rules across entries, with every watchlist query parsed;
- compile_s: the matcher, from the trees the check parsed (`service.app.config.compile_rules`);
- total_s: all four, and cli_s: the real `newsalert match -c FILE` over one small feed, process
  start to exit, with cli_peak_mb its peak resident memory;
- peak_mb: the measuring process's peak resident memory after the phases, interpreter included;
- reload_cpu_s, rss_before_reload_mb, rss_after_reloads_mb, peak_with_reload_mb: in another
  process, the config loaded and compiled as the service starts, then two live reloads of it,
  each with one query edited (`MatcherHolder.reload_from`, which `watch_config` runs in a
  thread): the second's CPU seconds, resident memory with the first matcher running and right
  after each swap, and the peak, when an old and a new matcher both lived.

`--profile` prints the top functions of a cProfile run of the phases instead (cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.workloads import DEFAULT_REALDATA, generate_workload, real_articles

ROOT = Path(__file__).resolve().parents[1]
DESTINATIONS = ("markets", "audit", "console")
FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>China cuts rates as the Fed holds</title><guid>1</guid>
<description>Beijing and Hong Kong markets rose.</description></item></channel></rss>
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--workload", default="broad")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--profile", action="store_true", help="cProfile the phases instead")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout the CLI runs from")
    parser.add_argument("--cli-only", action="store_true", help="time only the real command")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one config, in a child
    parser.add_argument("--reload", type=Path, help=argparse.SUPPRESS)  # its reload, in a child
    args = parser.parse_args()
    if args.reload:
        print(json.dumps(reload(args.reload)), flush=True)
        return 0
    if args.measure:
        if args.profile:
            profile(args.measure)
        else:
            print(json.dumps(measure(args.measure)), flush=True)
        return 0
    articles = real_articles(args.realdata / "feeds")
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "feed.xml"
        feed.write_text(FEED, encoding="utf-8")
        for size in (int(part) for part in args.sizes.split(",")):
            config = Path(tmp) / f"config-{size}.yaml"
            write_config(config, generate_workload(args.workload, articles, size, args.seed))
            if args.cli_only:
                figures = {"watchlists": size, "workload": args.workload}
                print(json.dumps(figures | run_cli(config, feed, args.code)), flush=True)
                continue
            command = [sys.executable, "-m", "bench.config_load", "--measure", str(config)]
            command += ["--profile"] if args.profile else []
            child = subprocess.run(  # noqa: S603 (our own script and arguments)
                command, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT
            )
            if args.profile:
                print(child.stdout)
                continue
            figures = json.loads(child.stdout)
            child = subprocess.run(  # noqa: S603 (our own script and arguments)
                [sys.executable, "-m", "bench.config_load", "--reload", str(config)],
                check=True,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            figures |= json.loads(child.stdout.splitlines()[-1])  # after the reload's log line
            figures |= {"workload": args.workload, "file_mb": round(config.stat().st_size / 1e6, 1)}
            figures |= run_cli(config, feed, args.code)
            print(json.dumps(figures), flush=True)
    return 0


def write_config(path: Path, watchlists: list[tuple[str, str]]) -> None:
    """A config as an operator writes it: block style, one watchlist after another."""
    lines = ["feeds:\n  - name: wire\n    url: https://example.org/feed.xml", "destinations:"]
    lines += [f"  - name: {name}\n    type: console" for name in DESTINATIONS]
    lines.append("watchlists:")
    for number, (name, query) in enumerate(watchlists):
        quoted = "'" + query.replace("'", "''") + "'"
        lines.append(f"  - name: {name}\n    query: {quoted}")
        lines.append(f"    destinations: [{DESTINATIONS[number % len(DESTINATIONS)]}]")
        if number % 10 == 0:
            lines.append("    priority: true")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def phases(path: Path) -> dict[str, float]:
    """Each phase of `load_config` then `compile_rules`, CPU seconds of this process each."""
    from consumers.gc_policy import collector_paused, freeze_if_large
    from service.app.config import QueryCheck, compile_rules
    from service.settings.load import build_settings, cross_check, read_config

    timings: dict[str, float] = {}
    wall = time.perf_counter()
    paused = collector_paused()
    paused.__enter__()  # as `load_config` does
    start = time.process_time()
    loaded = read_config(path, {})
    timings["yaml_s"] = time.process_time() - start
    start = time.process_time()
    settings = build_settings(loaded.data, {})
    timings["validate_s"] = time.process_time() - start
    start = time.process_time()
    check = QueryCheck()
    problems = cross_check(loaded, str(path), check, {}, require_feeds=False)
    timings["check_s"] = time.process_time() - start
    freeze_if_large(len(settings.watchlists))
    paused.__exit__(None, None, None)
    if problems:
        raise SystemExit("\n".join(problems))
    del loaded
    start = time.process_time()
    matcher = compile_rules(settings, check.trees)
    timings["compile_s"] = time.process_time() - start
    timings["wall_s"] = time.perf_counter() - wall
    assert len(matcher.watchlists) == len(settings.watchlists)
    return timings


def measure(path: Path) -> dict[str, object]:
    timings = phases(path)
    wall = timings.pop("wall_s")
    figures: dict[str, object] = {
        "watchlists": _count(path),
        **{name: round(value, 2) for name, value in timings.items()},
        "total_cpu_s": round(sum(timings.values()), 2),
        "total_wall_s": round(wall, 2),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    return figures


def reload(path: Path) -> dict[str, object]:
    """A live reload of the same watchlists with one query changed, as `watch_config` runs it
    (`MatcherHolder.reload_from`): its CPU seconds, and resident memory with the first rules
    running, right after the swap, and the process's peak (both matchers lived meanwhile)."""
    from consumers.reload import MatcherHolder
    from service.app.config import load_config, parsed_queries

    settings = load_config(path, {}, require_feeds=False)
    holder = MatcherHolder(  # as `service.app.embedded.matcher_holder` builds it
        settings.watchlists, concepts=settings.concepts, parsed=parsed_queries(settings)
    )
    del settings
    before = _rss_mb()
    text = path.read_text(encoding="utf-8")
    after: list[int] = []
    cpu = 0.0
    for number in (1, 2):  # a second edit shows whether memory levels off or grows
        edited = path.with_name(f"edited-{number}-{path.name}")
        marked = text.replace("query: '", f"query: 'qzedit{number} OR ", 1)
        edited.write_text(marked, encoding="utf-8")
        del marked
        start = time.process_time()
        outcome = holder.reload_from(edited, {})
        cpu = time.process_time() - start
        if not (outcome.ok and outcome.changed):
            raise SystemExit("\n".join(outcome.errors) or "the reload changed nothing")
        after.append(round(_rss_mb()))
    return {
        "reload_cpu_s": round(cpu, 2),
        "rss_before_reload_mb": round(before),
        "rss_after_reloads_mb": after,
        "peak_with_reload_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _rss_mb() -> float:
    """Resident memory now (Linux), in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def profile(path: Path) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(phases, path)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)


def run_cli(config: Path, feed: Path, code: Path) -> dict[str, object]:
    """The real command, as a user runs it: process start to the first (and only) article.

    Run under a wrapper process of its own, so that its peak memory is the command's alone;
    `code` is the checkout whose `service` and `consumers` run (another tree, for a before).
    """
    wrapper = (
        "import resource, subprocess, sys, time; start = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(time.perf_counter() - start, usage.ru_utime + usage.ru_stime, "
        "usage.ru_maxrss / 1024)"
    )
    command = [sys.executable, "-c", "from service.app.cli import main; main()"]
    command += ["match", "-c", str(config), "--json", str(feed)]
    child = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-c", wrapper, *command],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(code)},
        cwd=code,
    )
    elapsed, cpu, peak = (float(part) for part in child.stdout.split())
    return {"cli_cpu_s": round(cpu, 2), "cli_wall_s": round(elapsed, 2), "cli_peak_mb": round(peak)}


def _count(path: Path) -> int:
    with path.open(encoding="utf-8") as lines:
        return sum(line.startswith("    query: ") for line in lines)


if __name__ == "__main__":
    sys.exit(main())
