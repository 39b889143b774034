"""structlog set-up: JSON lines when stdout is not a terminal, readable colours when it is.

Standard-library loggers (aiokafka, httpx) go through the same processors, so every line of
the process has one shape.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Literal

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(
    level: str = "info", fmt: Literal["auto", "json", "console"] = "auto"
) -> None:
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.format_exc_info] if as_json else []),
            renderer,
        ],
    )
    # Logs go to stderr: stdout belongs to the console destination and to `match --json`.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(level, logging.INFO))
    # httpx logs every request at INFO, which would drown the service's own events.
    for noisy in ("httpx", "httpcore", "aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # While a broker is down aiokafka repeats the same error thousands of times a second.
    handler.addFilter(RepeatFilter(prefix="aiokafka", every=10.0))


class RepeatFilter(logging.Filter):
    """Lets a library's identical message through once per `every` seconds, counting the rest."""

    def __init__(self, prefix: str, every: float) -> None:
        super().__init__()
        self._prefix = prefix
        self._every = every
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefix):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last, suppressed = self._last.get(key, (float("-inf"), 0))
        if now - last < self._every:
            self._last[key] = (last, suppressed + 1)
            return False
        if len(self._last) > 1000:
            self._last.clear()  # messages embed changing details; keep the table small
        self._last[key] = (now, 0)
        if suppressed:
            record.msg = (
                f"{record.msg} (and {suppressed} more like it in the last {self._every:g}s)"
            )
        return True
