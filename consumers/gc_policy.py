"""Compiling the matcher in a long-running process: keep the cycle collector off its objects.

Kept out of the pure matching core (`consumers.matching`) because the collector's settings
are process-wide, which only the process's own code may decide; it is a module of its own so
that the benchmarks compile exactly as the service does without importing the service.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence

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
    paused = gc.isenabled()
    gc.disable()
    try:
        matcher = compile_watchlists(queries, concepts, parsed=parsed)
    finally:
        if paused:
            gc.enable()
    if len(queries) >= FREEZE_FROM:
        gc.freeze()
    return matcher
