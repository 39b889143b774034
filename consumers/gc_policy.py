"""Compiling the matcher in a long-running process: keep the cycle collector off its objects.

Kept out of the pure matching core (`consumers.matching`) because the collector's settings
are process-wide, which only the process's own code may decide; it is a module of its own so
that the benchmarks compile exactly as the service does without importing the service.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from consumers.matching import Concepts, Matcher, Node, compile_watchlists

# From this many watchlists on, the compiled objects are frozen out of the cycle collector.
FREEZE_FROM = 10_000


def compile_matcher(
    queries: Sequence[tuple[str, str]],
    concepts: Concepts | None = None,
    *,
    parsed: Mapping[str, Node] | None = None,
) -> Matcher:
    """`compile_watchlists`, with the cycle collector kept off the matcher's objects.

    Why here and not in the pure core: compiling allocates millions of small objects that all
    live on and form no cycles, and the collector would rescan them again and again, so it is
    paused while they are built; from `FREEZE_FROM` watchlists they are moved to the permanent
    generation (`gc.freeze`), so later full collections do not walk them (reference counting
    still frees them when the matcher is replaced). Both are process-wide settings, which the
    caller owns; bench/RESULTS.md has the cost of leaving them out.
    """
    with collector_paused():
        matcher = compile_watchlists(queries, concepts, parsed=parsed)
        freeze_if_large(len(queries))
    return matcher


def freeze_if_large(watchlists: int) -> None:
    """From `FREEZE_FROM` watchlists, move every object alive now to the permanent generation.

    Called before the collector is turned on again, so that it does not start by walking
    everything allocated while it was off (the settings and parse trees of a large config,
    a compiled matcher)."""
    if watchlists >= FREEZE_FROM:
        gc.freeze()


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector off for a block that builds many lasting objects and no cycles
    (compiling; loading a large config and parsing its queries); on again after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
