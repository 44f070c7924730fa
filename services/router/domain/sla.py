"""SLA arithmetic: when first contact is due, when to remind the owner, and whom a breach escalates to."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from services.router.config import RoutingConfig
from shared.events import LeadScored, RepRef, SlaEventKind, SlaKind, Stage


@dataclass(frozen=True)
class TimerSpec:
    """One SLA clock alarm to persist: a reminder at a fraction of the window, or the breach at its end."""

    timer_id: str
    kind: SlaEventKind
    fraction: float | None
    fire_at: datetime


def sla_due_at(kind: SlaKind, decided_at: datetime, config: RoutingConfig) -> datetime:
    """When the owner must have acted: the decision time plus the configured window."""
    return decided_at + config.sla.windows[kind]


def reminder_times(kind: SlaKind, decided_at: datetime, config: RoutingConfig) -> list[datetime]:
    """When to remind the owner: each configured fraction of the window, earliest first."""
    window = config.sla.windows[kind]
    return [decided_at + window * fraction for fraction in config.sla.reminders_at]


def timer_id_for(
    decision_id: str, kind: SlaEventKind, fraction: float | None = None, clock: SlaKind | None = None
) -> str:
    """Deterministic: one decision's reminder at a given fraction (or its breach) is always the same timer.

    ``clock`` names a later clock started on the same decision (the SQL first-proposal clock), so its
    alarms never collide with the decision's own first-contact alarms.
    """
    which = f"{fraction:g}" if fraction is not None else "-"
    owner = decision_id if clock is None else f"{decision_id}/{clock.value}"
    return "sla_" + hashlib.sha256(f"{owner}:{kind.value}:{which}".encode()).hexdigest()[:32]


def sla_timers(
    decision_id: str, kind: SlaKind, decided_at: datetime, config: RoutingConfig, *, later_clock: bool = False
) -> list[TimerSpec]:
    """Every alarm of one decision's SLA clock: the reminders, earliest first, then the breach.

    ``later_clock``: a clock of ``kind`` started on an existing decision after it was made (ids of its own).
    """
    window = config.sla.windows[kind]
    clock = kind if later_clock else None
    reminders = [
        TimerSpec(
            timer_id_for(decision_id, SlaEventKind.REMINDER, f, clock),
            SlaEventKind.REMINDER,
            f,
            decided_at + window * f,
        )
        for f in config.sla.reminders_at
    ]
    breach = TimerSpec(
        timer_id_for(decision_id, SlaEventKind.BREACH, None, clock), SlaEventKind.BREACH, None, decided_at + window
    )
    return [*reminders, breach]


def became_sql(scored: LeadScored) -> bool:
    """True when this update made the lead sales-qualified: the owner's first-proposal clock starts."""
    return scored.stage == Stage.SQL and scored.previous_stage != Stage.SQL


def reassignment_id_for(previous_decision_id: str) -> str:
    """Deterministic: a decision is replaced at most once, so whichever path (breach, rejection, leave) or
    instance gets there first writes the one reassignment, and any other attempt is a no-op."""
    return "dec_" + hashlib.sha256(f"{previous_decision_id}:reassigned".encode()).hexdigest()[:32]


def escalation_contact(owner_rep_id: str | None, team_id: str | None, config: RoutingConfig) -> RepRef:
    """Whom a breach escalates to: the owner's home-team manager, else the team's, else the fallback queue's."""
    rep = config.rep(owner_rep_id) if owner_rep_id else None
    team_ids = [t for t in (rep.team if rep else None, team_id) if t is not None]
    for candidate in team_ids:
        try:
            team = config.team(candidate)
        except KeyError:
            continue
        manager = team.manager
        return RepRef(rep_id=f"manager:{team.id}", name=manager.name, email=manager.email, slack_id=manager.slack_id)
    queue = config.fallback_queue
    return RepRef(
        rep_id=f"manager:{queue.id}",
        name=queue.manager.name,
        email=queue.manager.email,
        slack_id=queue.manager.slack_id,
    )


def escalation_channel(team_id: str | None, config: RoutingConfig) -> str | None:
    """The Slack channel a breach is also posted to: the decision's team channel, else the fallback queue's."""
    if team_id is not None:
        try:
            channel = config.team(team_id).slack_channel
        except KeyError:
            channel = None
        if channel:
            return channel
    return config.fallback_queue.slack_channel
