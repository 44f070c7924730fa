"""What the console shows, computed from plain values: SLA countdowns, queue order, rates, chart bars.

Pure on purpose (no database, no HTTP, no clock: ``now`` is passed in), so the arithmetic a sales manager
relies on is tested without a stack.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# A lead that reached these stages was accepted as sales-qualified at some point.
SQL_OR_LATER = frozenset({"sql", "opportunity", "won"})
MQL_OR_LATER = frozenset({"mql", "tql", "sal", "sql", "opportunity", "won", "lost"})
CONVERTED = frozenset({"sal", "sql", "opportunity", "won"})
RANK_ORDER = {"A": 0, "B": 1, "C": 2}


@dataclass(frozen=True)
class Countdown:
    """Time left on an SLA clock, as a rep reads it."""

    text: str
    overdue: bool
    seconds: float


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"


def countdown(due_at: datetime | None, status: str | None, now: datetime) -> Countdown | None:
    """'due in 42m' or 'overdue by 1h 05m' while the clock runs; the status word once it stopped."""
    if due_at is None:
        return None
    if status not in (None, "open", "queued"):
        return Countdown(text=str(status), overdue=status == "breached", seconds=0.0)
    left = (due_at - now).total_seconds()
    if left < 0:
        return Countdown(text=f"overdue by {_span(left)}", overdue=True, seconds=left)
    return Countdown(text=f"due in {_span(left)}", overdue=False, seconds=left)


def queue_sort_key(row: Mapping[str, Any], now: datetime) -> tuple[int, float, int, str]:
    """Overdue running clocks first (most overdue on top), then running clocks by deadline, then the rest."""
    due = row.get("sla_due_at")
    running = row.get("sla_status") in (None, "open", "queued") and due is not None
    seconds = (due - now).total_seconds() if due is not None else float("inf")
    group = (0 if seconds < 0 else 1) if running else 2
    return (group, seconds, RANK_ORDER.get(str(row.get("rank")), 9), str(row.get("lead_id")))


def order_queue(rows: Iterable[Mapping[str, Any]], now: datetime) -> list[Mapping[str, Any]]:
    """The queue in the order a manager works it."""
    return sorted(rows, key=lambda r: queue_sort_key(r, now))


@dataclass(frozen=True)
class Bar:
    """One bar of a small server-rendered chart: a label, a rate and the counts behind it."""

    label: str
    converted: int
    total: int

    @property
    def rate(self) -> float:
        return self.converted / self.total if self.total else 0.0

    @property
    def percent(self) -> int:
        return round(self.rate * 100)


def conversion_bars(counts: Iterable[tuple[str | None, str, int]], order: Sequence[str] = ()) -> list[Bar]:
    """Share of leads that reached SAL or later, per group; ``counts`` is (group, current stage, leads)."""
    totals: dict[str, int] = {}
    converted: dict[str, int] = {}
    for group, stage, count in counts:
        label = group or "unknown"
        totals[label] = totals.get(label, 0) + count
        if stage in CONVERTED:
            converted[label] = converted.get(label, 0) + count
    known = [g for g in order if g in totals] + sorted(g for g in totals if g not in order)
    return [Bar(label=g, converted=converted.get(g, 0), total=totals[g]) for g in known]


@dataclass(frozen=True)
class TargetRate:
    """A measured rate against its target."""

    reached: int
    of: int
    target: float

    @property
    def rate(self) -> float | None:
        return self.reached / self.of if self.of else None

    @property
    def on_target(self) -> bool | None:
        return None if self.rate is None else self.rate >= self.target


def mql_to_sql(stage_counts: Mapping[str, int], target: float) -> TargetRate:
    """MQL → SQL conversion from current stages: of the leads that became MQL, how many reached SQL."""
    mql = sum(n for stage, n in stage_counts.items() if stage in MQL_OR_LATER)
    sql = sum(n for stage, n in stage_counts.items() if stage in SQL_OR_LATER)
    return TargetRate(reached=sql, of=mql, target=target)


def sla_compliance(status_counts: Mapping[str, int]) -> TargetRate:
    """Closed SLA clocks that were met, of all closed ones (met + breached); running clocks do not count yet."""
    met = status_counts.get("met", 0)
    return TargetRate(reached=met, of=met + status_counts.get("breached", 0), target=1.0)


def load_percent(open_leads: int, capacity: int) -> int:
    """How full a rep is, as a percentage of capacity (a rep with no capacity is full)."""
    if capacity <= 0:
        return 100
    return min(round(open_leads * 100 / capacity), 999)


def timeline(entries: Iterable[tuple[datetime | None, str, str]]) -> list[tuple[datetime, str, str]]:
    """Merge (when, kind, text) entries from every source into one chronological list, undated ones dropped."""
    dated = [(when, kind, text) for when, kind, text in entries if when is not None]
    return sorted(dated, key=lambda e: e[0])
