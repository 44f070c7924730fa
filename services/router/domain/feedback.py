"""What sales feedback in a scored update means for routing: contact made or proposal meeting held (a clock
stops), lead rejected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.router.config import RoutingConfig
from shared.events import EventKind, LeadEvent, SlaKind


@dataclass(frozen=True)
class Rejection:
    """A rep handed the lead back; ``rep_id`` is who said so when the feedback names them."""

    rep_id: str | None
    reason: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class Feedback:
    """The routing-relevant sales feedback among one update's events."""

    contacts: int = 0
    first_contact_at: datetime | None = None
    rejections: tuple[Rejection, ...] = ()
    meetings: int = 0


# What meets each SLA: first contact for a new lead; for an SQL, the proposal meeting, not one more call.
_MET_BY: dict[SlaKind, EventKind] = {
    SlaKind.RANK_A: EventKind.SALES_CONTACTED,
    SlaKind.MQL: EventKind.SALES_CONTACTED,
    SlaKind.SQL: EventKind.SALES_MEETING,
    SlaKind.SEMINAR_FOLLOW_UP: EventKind.SALES_CONTACTED,
}


def met_by(sla_kind: SlaKind) -> EventKind:
    """The sales feedback that meets (stops) a clock of this kind."""
    return _MET_BY[sla_kind]


def meets_clock(feedback: Feedback, sla_kind: SlaKind) -> bool:
    """True when this update's feedback meets a running clock of this kind."""
    if met_by(sla_kind) is EventKind.SALES_MEETING:
        return feedback.meetings > 0
    return feedback.contacts > 0


def read_feedback(events: Sequence[LeadEvent]) -> Feedback:
    """Count contact attempts and meetings, and collect rejections, in event order."""
    contacts = [e for e in events if e.kind is EventKind.SALES_CONTACTED]
    meetings = sum(1 for e in events if e.kind is EventKind.SALES_MEETING)
    rejections = tuple(
        Rejection(
            rep_id=_text(e.details.get("rep")),
            reason=_text(e.details.get("reason")),
            occurred_at=e.occurred_at,
        )
        for e in sorted(events, key=lambda e: (e.occurred_at, e.event_id))
        if e.kind is EventKind.SALES_REJECTED
    )
    first = min((e.occurred_at for e in contacts), default=None)
    return Feedback(contacts=len(contacts), first_contact_at=first, rejections=rejections, meetings=meetings)


def rejecting_rep(rejection: Rejection, owner_rep_id: str | None, config: RoutingConfig) -> str | None:
    """Who rejected: the rep the feedback names (by id, email or Slack id), else the current owner."""
    named = (rejection.rep_id or "").casefold()
    if named:
        for rep in config.reps:
            if named in (rep.id.casefold(), rep.email.casefold(), rep.slack_id.casefold()):
                return rep.id
    return owner_rep_id


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
