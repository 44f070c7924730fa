"""Who can take a lead right now: active, in the office, on shift (rank A only), below capacity."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.router.config import WEEKDAYS, OutOfOffice, Rep, RepOverride, WorkingHours


@dataclass(frozen=True)
class RepLoad:
    """How many open leads a rep holds now (counted by the adapter from the ownership table)."""

    rep_id: str
    open_leads: int


def loads_by_rep(rows: Iterable[RepLoad]) -> dict[str, int]:
    """The ``loads`` mapping assign() takes; reps missing from ``rows`` count as zero."""
    return {row.rep_id: row.open_leads for row in rows}


@dataclass(frozen=True)
class Candidate:
    """One rep considered for a lead, and why they were passed over."""

    rep_id: str
    eligible: bool
    skipped_because: str | None


def effective_rep(rep: Rep, override: RepOverride | None) -> Rep:
    """The rep as routing.yaml describes them, with runtime changes (PUT /v1/reps/{id}) on top."""
    if override is None:
        return rep
    changes = {
        key: value
        for key, value in (
            ("active", override.active),
            ("capacity", override.capacity),
            ("out_of_office", override.out_of_office),
        )
        if value is not None
    }
    return rep.model_copy(update=changes) if changes else rep


def _absence_at(absences: list[OutOfOffice], now: datetime) -> OutOfOffice | None:
    return next((a for a in absences if a.start <= now < a.end), None)


def away_reason(rep: Rep, now: datetime) -> str | None:
    """Why a rep cannot hold leads at all right now (inactive, on leave), or None; shift and load aside."""
    if not rep.active:
        return "inactive"
    absence = _absence_at(rep.out_of_office, now)
    if absence is not None:
        return f"out of office until {_local_stamp(absence.end, ZoneInfo(rep.timezone))}"
    return None


def _local_stamp(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d") if local.time() == time(0, 0) else local.strftime("%Y-%m-%d %H:%M")


def on_shift(hours: WorkingHours, local: datetime) -> bool:
    """Whether a local wall-clock time falls in the working hours; end before start is an overnight shift."""
    day = WEEKDAYS[local.weekday()]
    clock = local.time()
    if hours.start < hours.end:
        return day in hours.days and hours.start <= clock < hours.end
    previous_day = WEEKDAYS[(local - timedelta(days=1)).weekday()]
    return (day in hours.days and clock >= hours.start) or (previous_day in hours.days and clock < hours.end)


def check_rep(
    rep: Rep,
    *,
    now: datetime,
    open_leads: int,
    excluded: bool,
    shift_required: bool,
) -> Candidate:
    """Whether this rep can take the lead at ``now``, with the first reason they cannot."""
    zone = ZoneInfo(rep.timezone)
    reason: str | None = None
    absence = _absence_at(rep.out_of_office, now)
    local = now.astimezone(zone)
    if not rep.active:
        reason = "inactive"
    elif excluded:
        reason = "rejected this lead before"
    elif absence is not None:
        reason = f"out of office until {_local_stamp(absence.end, zone)}"
    elif shift_required and rep.working_hours is not None and not on_shift(rep.working_hours, local):
        day_off = WEEKDAYS[local.weekday()] not in rep.working_hours.days
        stamp = local.strftime("%a %H:%M" if day_off else "%H:%M")
        reason = f"off shift ({rep.timezone} {stamp})"
    elif open_leads >= rep.capacity:
        reason = f"at capacity {open_leads}/{rep.capacity}"
    return Candidate(rep_id=rep.id, eligible=reason is None, skipped_because=reason)


def check_reps(
    reps: list[Rep],
    *,
    now: datetime,
    loads: Mapping[str, int],
    excluded_rep_ids: frozenset[str],
    shift_required: bool,
) -> list[Candidate]:
    """check_rep over several reps, in the given order."""
    return [
        check_rep(
            rep,
            now=now,
            open_leads=loads.get(rep.id, 0),
            excluded=rep.id in excluded_rep_ids,
            shift_required=shift_required,
        )
        for rep in reps
    ]
