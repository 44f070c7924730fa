"""Seminar follow-up: a webinar attendee is thanked with the material within the window, for the lead's owner.

Pure. The router publishes one RoutingDecision of SLA kind ``seminar_follow_up`` per attendance; the notifier
sends the thank-you from it. The decision names who the mail is sent for, and never changes who owns the lead
or whose turn is next: with an owner, the owner; without one (not routed yet, or waiting in the fallback
queue), the manager of the team the lead's first matching rule selects, so a team is still accountable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from services.router.config import Rep, RoutingConfig
from services.router.domain.assignment import to_rep_ref
from services.router.domain.rules import match_rule
from services.router.domain.sla import sla_due_at
from shared.events import DecisionKind, EventKind, LeadEvent, LeadScored, RepRef, RoutingDecision, SlaKind

SEMINAR_RULE_ID = "seminar_follow_up"


def attendances(events: Sequence[LeadEvent]) -> list[LeadEvent]:
    """The webinar attendances among one update's events, oldest first, each once."""
    seen: dict[str, LeadEvent] = {}
    for event in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
        if event.kind is EventKind.WEBINAR_ATTENDED:
            seen.setdefault(event.event_id, event)
    return list(seen.values())


def seminar_decision_id(lead_id: str, attendance_event_id: str) -> str:
    """Deterministic per (lead, attendance): a redelivered or re-scored attendance is the same decision."""
    return "dec_" + hashlib.sha256(f"{lead_id}:{attendance_event_id}:seminar".encode()).hexdigest()[:32]


def _manager_ref(team_id: str, config: RoutingConfig) -> RepRef:
    manager = config.team(team_id).manager
    return RepRef(rep_id=f"manager:{team_id}", name=manager.name, email=manager.email, slack_id=manager.slack_id)


def seminar_follow_up(
    scored: LeadScored,
    attendance: LeadEvent,
    config: RoutingConfig,
    *,
    owner: Rep | None,
    owner_team_id: str | None,
    now: datetime,
) -> RoutingDecision:
    """The follow-up decision for one attendance: for the owner, else for the rule-selected team's manager."""
    webinar = attendance.details.get("webinar")
    seminar = f"'{webinar.strip()}'" if isinstance(webinar, str) and webinar.strip() else "a seminar"
    due = sla_due_at(SlaKind.SEMINAR_FOLLOW_UP, now, config)
    trace: dict[str, object] = {"seminar_follow_up": {"event_id": attendance.event_id, "webinar": webinar}}
    if owner is not None:
        sender = to_rep_ref(owner, config)
        team_id = owner_team_id or owner.team
        trace["sent_for"] = "owner"
        reason = f"Attended {seminar}: thank-you with material sent for you, the owner"
    else:
        rule = match_rule(scored, config)
        team_id = rule.team
        sender = _manager_ref(team_id, config)
        trace["sent_for"] = "team_manager"
        trace["rule_matched"] = rule.id
        reason = f"Attended {seminar}, no owner yet: thank-you sent for the {team_id} team (rule {rule.id})"
    return RoutingDecision(
        decision_id=seminar_decision_id(scored.lead_id, attendance.event_id),
        lead_id=scored.lead_id,
        kind=DecisionKind.ASSIGNED,
        owner=sender,
        team=team_id,
        rule=SEMINAR_RULE_ID,
        reason=reason,
        sla_kind=SlaKind.SEMINAR_FOLLOW_UP,
        sla_due_at=due,
        # The attendance is what the notifier thanks for (it reads the seminar's name from the trigger).
        lead=scored.model_copy(update={"trigger": attendance}),
        trace=trace,
        decided_at=now,
    )
