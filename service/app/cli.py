"""The `newsalert` command line. Errors a user can cause end in one sentence and exit non-zero."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from service.app.config import load_config, parsed_queries
from service.errors import ConfigError, NewsalertError
from service.logs import configure_logging
from service.settings import Settings, resolve_config_path

EXIT_CONFIG = 2

log = structlog.get_logger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsalert",
        description="Poll news feeds, match stories against watchlists, and alert Slack, "
        "webhooks or the console.",
    )
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="config file (default: $NEWSALERT_CONFIG, then config/newsalert.yaml)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", parents=[config], help="run the whole pipeline")
    run.add_argument(
        "--once",
        action="store_true",
        help="poll every feed once, deliver everything that results, then exit",
    )
    for role in ("poller", "matcher", "notifier"):
        sub.add_parser(role, parents=[config], help=f"run the {role} stage alone over Kafka")
    sub.add_parser(
        "check", parents=[config], help="validate the config; exit 2 listing every problem"
    )

    match = sub.add_parser(
        "match",
        parents=[config],
        help="dry run: show which watchlists each entry of a feed file or URL matches",
    )
    match.add_argument("--json", action="store_true", help="one JSON object per entry per line")
    match.add_argument("sources", nargs="+", metavar="SOURCE", help="a feed file path or URL")

    stories = sub.add_parser(
        "stories",
        parents=[config],
        help="dry run: group the entries of feed files or URLs into stories",
    )
    stories.add_argument("--json", action="store_true", help="one JSON object per entry per line")
    stories.add_argument("sources", nargs="+", metavar="SOURCE", help="a feed file path or URL")

    evaluate = sub.add_parser(
        "eval",
        parents=[config],
        help="score the watchlists against a labelled TSV file: precision, recall, misses",
    )
    evaluate.add_argument("--json", action="store_true", help="one JSON object per watchlist")
    evaluate.add_argument(
        "labels", metavar="LABELS", help="TSV: source, title, then one 1/0/? column per watchlist"
    )

    dlq = sub.add_parser("dlq", help="list or replay dead letters")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    dlq_list = dlq_sub.add_parser("list", parents=[config], help="show dead letters")
    dlq_list.add_argument("--destination", help="only this destination")
    dlq_list.add_argument("--json", action="store_true", help="one JSON object per dead letter")
    replay = dlq_sub.add_parser(
        "replay", parents=[config], help="put dead letters back for delivery"
    )
    replay.add_argument(
        "ids", nargs="*", metavar="ALERT_ID", help="only these alerts (default: all)"
    )
    replay.add_argument("--destination", help="only this destination")

    feeds = sub.add_parser(
        "feeds", parents=[config], help="show each feed's state: last success, failures, next poll"
    )
    feeds.add_argument("--json", action="store_true", help="one JSON object per feed")

    sub.add_parser("health", parents=[config], help="exit 0 when the local process is healthy")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except NewsalertError as exc:
        print(f"newsalert: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# Commands that read no feed from the config, so a config without `feeds:` is fine for them.
FEEDLESS_COMMANDS = frozenset({"match", "stories", "eval"})
# Commands that compile the watchlists, from the parse trees the config check kept.
COMPILING_COMMANDS = frozenset({"run", "matcher", "match", "eval"})


def _dispatch(args: argparse.Namespace) -> int:
    from service.app import commands

    path = resolve_config_path(getattr(args, "config", None), os.environ)
    settings = load_config(path, require_feeds=args.command not in FEEDLESS_COMMANDS)
    if args.command not in COMPILING_COMMANDS:
        parsed_queries(settings)  # taken and dropped: nothing here compiles the watchlists
    # Before any command runs: logs go to stderr, so stdout stays clean for `match --json`.
    configure_logging(settings.logging.level, settings.logging.format)
    if args.command == "check":
        return commands.check(settings, path)
    if args.command == "health":
        return commands.health(settings)
    if args.command == "feeds":
        return asyncio.run(commands.feeds(settings, as_json=args.json))
    if args.command == "match":
        return asyncio.run(commands.match(settings, args.sources, as_json=args.json))
    if args.command == "stories":
        from service.app.stories import stories

        return asyncio.run(stories(settings, args.sources, as_json=args.json))
    if args.command == "eval":
        from service.app.evaluate import evaluate

        return asyncio.run(evaluate(settings, Path(args.labels), as_json=args.json))
    if args.command == "dlq":
        if args.dlq_command == "list":
            return asyncio.run(commands.dlq_list(settings, args.destination, as_json=args.json))
        return asyncio.run(commands.dlq_replay(settings, args.ids, args.destination))
    if args.command == "run":
        if args.once:
            return asyncio.run(commands.run_once(settings))
        return asyncio.run(_until_signalled(settings, None, path))
    return asyncio.run(_until_signalled(settings, args.command, path))


async def _until_signalled(settings: Settings, role: str | None, path: Path) -> int:
    from service.app import commands

    stop = asyncio.Event()
    reload = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload.set)  # re-read the watchlists now
    try:
        await commands.run_service(settings, role, stop, config_path=path, reload=reload)
    except NewsalertError:
        raise
    except Exception:
        # A crashed stage: log it with its traceback and exit non-zero so a supervisor restarts us.
        log.exception("service_crashed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
