"""The garbage collector of a long-running service: what start-up built is frozen, young collections are rarer.

Why: CPython's defaults (a young collection every 700 net allocations, a full one as the heap grows) suit
short scripts. A consumer allocates pydantic models, rows and records by the thousand per batch and keeps
large caches (parsed events, memos, pools), so the collector kept walking the same long-lived objects:
scoring's drain spent 20 s of a 71 s run in the collector (89 full collections per 100,000 events), and ran
1.13-1.45x faster with the thresholds below in two A/Bs, at the same peak RSS (bench/README.md). Reference
counting still frees almost every object at once; these settings only decide how often the collector looks
for cycles. ``GC_THRESHOLDS`` (shared/settings.py) overrides them, to compare.
"""

from __future__ import annotations

import gc

# A young collection every 20,000 net allocations (a batch's worth), the middle generation every 50 of
# those, the old one every 50 middle ones (and, as CPython always does, only once the objects waiting for
# it are a quarter of the old generation).
THRESHOLDS = (20_000, 50, 50)


def parse_thresholds(raw: str) -> tuple[int, int, int]:
    """``"20000,50,50"`` as thresholds (CPython's own defaults are ``700,10,10``); raises ValueError otherwise."""
    problem = f"GC_THRESHOLDS must be three positive integers, e.g. 20000,50,50; not {raw!r}"
    try:
        parts = [int(part) for part in raw.split(",")]
    except ValueError:
        raise ValueError(problem) from None
    if len(parts) != 3 or any(part < 1 for part in parts):
        raise ValueError(problem)
    return parts[0], parts[1], parts[2]


def tune_gc(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Freeze what exists now (modules, app, settings: never garbage) and raise the collection thresholds.

    Call once, after start-up and before the first batch or request.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
