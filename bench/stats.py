"""Pure arithmetic of the benchmark: percentiles, repeat summaries, open-model schedules, step verdicts.

No clock and no I/O here: callers pass times in, so every rule is unit-tested without a stack.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) with linear interpolation between ranks, as numpy's default does."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0-100, not {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    """One figure over repeated runs: the median, with the spread a reader needs to trust it."""

    median: float
    min: float
    max: float
    values: tuple[float, ...]

    def as_dict(self) -> dict[str, object]:
        return {"median": self.median, "min": self.min, "max": self.max, "values": list(self.values)}


def summarize(values: Sequence[float]) -> Summary:
    """Median and min–max of the repeats of one figure."""
    if not values:
        raise ValueError("summary of no values")
    return Summary(statistics.median(values), min(values), max(values), tuple(values))


@dataclass(frozen=True)
class Latencies:
    """The latency distribution of one run, in milliseconds."""

    count: int
    p50: float
    p90: float
    p99: float
    p999: float
    max: float

    def as_dict(self) -> dict[str, float]:
        return {
            "count": self.count,
            "p50": self.p50,
            "p90": self.p90,
            "p99": self.p99,
            "p999": self.p999,
            "max": self.max,
        }


def latencies(values_ms: Sequence[float]) -> Latencies | None:
    """p50/p90/p99/p99.9/max of a run, or None when nothing completed."""
    if not values_ms:
        return None
    ordered = sorted(values_ms)
    return Latencies(
        count=len(ordered),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
        p999=percentile(ordered, 99.9),
        max=ordered[-1],
    )


# ---------------------------------------------------------------- open-model schedules


def request_count(rate: float, duration_s: float) -> int:
    """How many requests a constant ``rate`` offers over ``duration_s``."""
    if rate <= 0 or duration_s <= 0:
        raise ValueError("rate and duration must be positive")
    return max(1, round(rate * duration_s))


def worker_indices(worker: int, workers: int, total: int) -> range:
    """The global request indices one of ``workers`` generator processes sends: interleaved, so together they
    offer one evenly spaced stream rather than ``workers`` bursts."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} outside 0..{workers - 1}")
    return range(worker, total, workers)


def scheduled_offset(index: int, rate: float) -> float:
    """Seconds after the start at which request ``index`` is due: by the clock, never after a response, so a
    stalled server cannot slow the offered load down (no coordinated omission)."""
    return index / rate


def due_count(indices: range, rate: float, elapsed_s: float, sent: int) -> int:
    """How many of ``indices`` beyond the first ``sent`` are due at ``elapsed_s``: the generator sends them all
    at once when it wakes late, and the lateness is recorded rather than hidden."""
    due = sent
    while due < len(indices) and scheduled_offset(indices[due], rate) <= elapsed_s:
        due += 1
    return due - sent


# ---------------------------------------------------------------- step verdicts


@dataclass(frozen=True)
class StepVerdict:
    """Whether one offered rate was sustained, and if not, why."""

    sustained: bool
    reason: str


def judge_step(
    *,
    offered_rate: float,
    achieved_rate: float,
    p99_ms: float | None,
    errors: int,
    generator_late_p99_ms: float,
    p99_limit_ms: float,
    min_achieved_share: float,
    generator_late_limit_ms: float,
) -> StepVerdict:
    """A rate is sustained when every request succeeded, p99 stayed under the limit and the server kept up.

    Every failed condition is named; a generator that fell behind is named too, since it makes the step's
    figures a floor of what the server could do rather than a verdict on it.
    """
    reasons = []
    if errors:
        reasons.append(f"{errors} errors")
    if p99_ms is None:
        reasons.append("no request completed")
    elif p99_ms > p99_limit_ms:
        reasons.append(f"p99 {p99_ms:.1f} ms > {p99_limit_ms:g} ms")
    if achieved_rate < offered_rate * min_achieved_share:
        reasons.append(f"achieved {achieved_rate:.0f}/s of {offered_rate:g}/s offered")
    if generator_late_p99_ms > generator_late_limit_ms:
        reasons.append(f"generator behind (p99 lateness {generator_late_p99_ms:.1f} ms)")
    return StepVerdict(not reasons, "; ".join(reasons) or "sustained")


def highest_sustained(steps: Sequence[tuple[float, StepVerdict]]) -> float:
    """The highest offered rate sustained before the first failing step (0 when none was)."""
    best = 0.0
    for rate, verdict in steps:
        if not verdict.sustained:
            break
        best = max(best, rate)
    return best


def per_thousand(cpu_seconds: float, events: int) -> float | None:
    """CPU seconds per 1,000 events, or None when no event was handled."""
    if events <= 0:
        return None
    return cpu_seconds * 1000 / events


def ratio(value: float | None, reference: float | None) -> float | None:
    """``value`` as a share of ``reference``; None when either is missing or the reference is zero."""
    if value is None or reference is None or reference == 0:
        return None
    return value / reference
