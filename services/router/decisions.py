"""Writing a routing decision: choose the owner, store the decision with its trace and input, start its SLA
clock, and return the RoutingDecision to publish. Shared by the consumer (new leads, rejections), the SLA
clock (breaches) and the reps API (a rep leaving), so every path decides and records the same way.

Also the clocks and follow-ups that keep the owner: the SQL first-proposal clock started on the current
decision, and the seminar follow-up decision (published for the notifier, never changing owner or rotation).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.router import metrics, repository
from services.router.config import Rep, RepOverride, RoutingConfig
from services.router.domain import (
    Assignment,
    TimerSpec,
    assign,
    attendances,
    check_rep,
    effective_rep,
    match_rule,
    reassignment_id_for,
    seminar_follow_up,
    sla_due_at,
    sla_timers,
    to_rep_ref,
)
from shared.events import (
    CloudEvent,
    CloudEventType,
    DecisionKind,
    LeadScored,
    RepRef,
    RoutingDecision,
    SlaKind,
    Topics,
)
from shared.kafka import OutgoingMessage
from shared.logging import log_fields

log = logging.getLogger(__name__)
# Parametrized once: a generic model looked up per decision is a measurable share of writing one.
_DECISION_EVENT = CloudEvent[RoutingDecision]


class ReassignCause:
    """Why a lead changed hands: a bounded set, used as a metric label and in the trace."""

    SLA_BREACH = "sla_breach"
    REJECTED = "rejected"
    REP_UNAVAILABLE = "rep_unavailable"
    MANAGER = "manager"


async def decide(
    session: AsyncSession,
    scored: LeadScored,
    config: RoutingConfig,
    overrides: Mapping[str, RepOverride],
    *,
    decision_id: str,
    sla_kind: SlaKind,
    now: datetime,
    correlation_id: str | None = None,
    excluded_rep_ids: frozenset[str] = frozenset(),
    reassignment: Mapping[str, Any] | None = None,
    chosen: Assignment | None = None,
) -> OutgoingMessage:
    """Route one lead and record everything about it in the caller's transaction.

    ``chosen`` is a manager's explicit pick: it bypasses rules and rotation (the turn order is untouched)
    but is recorded, notified and clocked like every other decision.
    """
    if chosen is not None:
        assignment = chosen
    else:
        rule = match_rule(scored, config)
        # Locked until commit: several router instances (and the SLA clock) take strict turns per team.
        rotation = await repository.lock_rotation(session, rule.team)
        owner_of_account = None
        if config.account_match.enabled and scored.person is not None:
            owner_of_account = await repository.account_owner(session, scored.person.company_key, scored.lead_id)
        assignment = assign(
            scored,
            config,
            now=now,
            loads=await repository.open_loads(session),
            rotation=rotation,
            account_owner_rep_id=owner_of_account,
            excluded_rep_ids=excluded_rep_ids,
            rep_overrides=overrides,
        )
    if assignment.rotation is not None:
        await repository.save_rotation(session, assignment.rotation, now)
    decided = build_decision(
        scored, assignment, config, decision_id=decision_id, sla_kind=sla_kind, now=now, reassignment=reassignment
    )
    await repository.add_decision(session, decided.row)
    await repository.set_owner(session, scored.lead_id, decided.ownership)
    if decided.timers:
        await repository.add_timers(session, decision_id, scored.lead_id, decided.timers)
    note_decision(decided)
    return decision_message(decided.decision, correlation_id)


@dataclass(frozen=True)
class Decided:
    """One decision, ready to store: what is published, its row, the lead's new ownership and its alarms."""

    decision: RoutingDecision
    row: dict[str, Any]
    ownership: dict[str, Any]
    timers: list[TimerSpec]
    fallback: bool


def build_decision(
    scored: LeadScored,
    assignment: Assignment,
    config: RoutingConfig,
    *,
    decision_id: str,
    sla_kind: SlaKind,
    now: datetime,
    reassignment: Mapping[str, Any] | None = None,
) -> Decided:
    """Pure: turn an assignment into the decision, its stored row, the lead's ownership and its SLA alarms."""
    kind, reason, trace = assignment.kind, assignment.reason, dict(assignment.trace)
    if reassignment is not None:
        trace["reassignment"] = dict(reassignment)
        reason = f"Reassigned ({_cause_phrase(reassignment)}) · {reason}"
        if assignment.rep is not None:
            kind = DecisionKind.REASSIGNED
    due = sla_due_at(sla_kind, now, config)
    owner: RepRef | None = to_rep_ref(assignment.rep, config) if assignment.rep is not None else None
    queue_contact = None
    if owner is None:
        queue = config.fallback_queue
        queue_contact = RepRef(
            rep_id=queue.id, name=queue.manager.name, email=queue.manager.email, slack_id=queue.manager.slack_id
        )
    decision = RoutingDecision(
        decision_id=decision_id,
        lead_id=scored.lead_id,
        kind=kind,
        owner=owner,
        team=assignment.team_id,
        queue=assignment.queue_id,
        queue_contact=queue_contact,
        rule=assignment.rule_id,
        reason=reason,
        sla_kind=sla_kind,
        sla_due_at=due,
        lead=scored,
        trace=trace,
        decided_at=now,
    )
    row = {
        "decision_id": decision_id,
        "lead_id": scored.lead_id,
        "kind": kind.value,
        "rep_id": owner.rep_id if owner else None,
        "team_id": assignment.team_id,
        "queue_id": assignment.queue_id,
        "rule_id": assignment.rule_id,
        "reason": reason,
        "trace": trace,
        "sla_kind": sla_kind.value,
        "sla_due_at": due,
        "decided_at": now,
        "lead": scored.model_dump(mode="json"),
    }
    ownership = {
        "routed": True,
        "owner_rep_id": owner.rep_id if owner else None,
        "team_id": assignment.team_id,
        "queue_id": assignment.queue_id,
        "decision_id": decision_id,
        "sla_kind": sla_kind.value,
        "sla_due_at": due,
        # A queued lead has no owner whose clock could run: the queue's manager was alerted instead.
        "sla_status": "open" if owner else "queued",
        "why": reason,
    }
    timers = sla_timers(decision_id, sla_kind, now, config) if owner is not None else []
    return Decided(decision, row, ownership, timers, fallback=assignment.kind is DecisionKind.FALLBACK)


def note_decision(decided: Decided) -> None:
    """Count and log a decision once it is stored."""
    decision = decided.decision
    metrics.DECISIONS.labels(decision.kind.value, decision.sla_kind.value).inc()
    if decided.fallback:
        log.warning("nobody eligible: lead sent to the fallback queue", extra=log_fields(lead_id=decision.lead_id))
    log.info(
        "lead routed",
        extra=log_fields(
            lead_id=decision.lead_id,
            decision_id=decision.decision_id,
            kind=decision.kind.value,
            rep=decision.owner.rep_id if decision.owner else None,
        ),
    )


async def start_later_clock(
    session: AsyncSession,
    lead: Any,
    scored: LeadScored,
    sla_kind: SlaKind,
    config: RoutingConfig,
    *,
    now: datetime,
) -> bool:
    """Start a clock of ``sla_kind`` for the current owner on the lead's current decision (row locked by the
    caller); False when the lead has no owner or this ownership already ran such a clock.

    It replaces the clock that was running: whatever first-contact alarms are still pending are superseded,
    since a lead sales has qualified is past first contact. Breach, reminders and reassignment then work as
    for any decision; the reassignment carries this clock's kind and snapshot.
    """
    if lead.decision_id is None or lead.owner_rep_id is None:
        return False
    specs = sla_timers(lead.decision_id, sla_kind, now, config, later_clock=True)
    if await repository.has_timer(session, specs[-1].timer_id):
        return False  # once per ownership: a lead that leaves SQL and comes back does not restart it
    due = sla_due_at(sla_kind, now, config)
    superseded = await repository.stop_timers(session, lead.decision_id, "superseded")
    await repository.add_timers(
        session,
        lead.decision_id,
        lead.lead_id,
        specs,
        later_clock={"sla_kind": sla_kind.value, "due_at": due, "lead": scored.model_dump(mode="json")},
    )
    await repository.set_owner(
        session, lead.lead_id, {"sla_kind": sla_kind.value, "sla_due_at": due, "sla_status": "open"}
    )
    log.info(
        "SLA clock started for the owner",
        extra=log_fields(
            lead_id=lead.lead_id, decision_id=lead.decision_id, sla_kind=sla_kind.value, superseded=superseded
        ),
    )
    return True


def seminar_follow_ups(
    scored: LeadScored, lead: Any, config: RoutingConfig, *, now: datetime, correlation_id: str | None
) -> list[OutgoingMessage]:
    """One follow-up decision per webinar attendance in this update, for the lead's owner as it is now
    (``lead`` is its row, or None when it was never routed). Nothing about ownership is written."""
    if not config.seminar_follow_up.enabled:
        return []
    owner = config.rep(lead.owner_rep_id) if lead is not None and lead.owner_rep_id else None
    team_id = lead.team_id if lead is not None else None
    messages = []
    for attendance in attendances(scored.new_events):
        decision = seminar_follow_up(scored, attendance, config, owner=owner, owner_team_id=team_id, now=now)
        metrics.DECISIONS.labels(decision.kind.value, decision.sla_kind.value).inc()
        sent_for = decision.trace["sent_for"]
        log.info(
            "seminar follow-up",
            extra=log_fields(lead_id=scored.lead_id, decision_id=decision.decision_id, sent_for=sent_for),
        )
        messages.append(decision_message(decision, correlation_id))
    return messages


def decision_message(decision: RoutingDecision, correlation_id: str | None) -> OutgoingMessage:
    """The RoutingDecision as a CloudEvent on Topics.DECISIONS, id = decision id (consumers dedupe on it)."""
    cloud = _DECISION_EVENT(
        id=decision.decision_id,
        source="/leadflow/router",
        type=CloudEventType.ROUTING_DECISION,
        subject=decision.lead_id,
        time=decision.decided_at,
        correlationid=correlation_id,
        data=decision,
    )
    headers = (("correlation_id", correlation_id.encode()),) if correlation_id else ()
    return OutgoingMessage(
        id=decision.decision_id, topic=Topics.DECISIONS, key=decision.lead_id, value=cloud.to_bytes(), headers=headers
    )


async def reassign(
    session: AsyncSession,
    lead: Any,
    config: RoutingConfig,
    overrides: Mapping[str, RepOverride],
    *,
    now: datetime,
    cause: str,
    exclude: Sequence[str] = (),
    detail: str | None = None,
    to_rep: Rep | None = None,
    snapshot: LeadScored | None = None,
) -> OutgoingMessage | None:
    """Give a routed lead (its row locked by the caller) to the next eligible rep; None when it cannot be.

    ``exclude`` adds reps who must never get it back (who rejected it, who let its SLA lapse). The new owner
    gets a fresh window of the clock the lead is on (the SQL first-proposal clock, once started), decided
    from ``snapshot`` when given (the breached clock's), else from the replaced decision's input.
    """
    if lead.decision_id is None:
        return None
    previous = await repository.decision_row(session, lead.decision_id)
    if previous is None or previous.lead is None:
        log.warning("decision has no stored input, cannot reassign", extra=log_fields(lead_id=lead.lead_id))
        return None
    excluded = await repository.exclude_reps(session, lead.lead_id, exclude)
    await repository.stop_timers(session, previous.decision_id, "reassigned")
    metrics.REASSIGNMENTS.labels(cause).inc()
    chosen = None
    if to_rep is not None:
        loads = await repository.open_loads(session)
        check = check_rep(
            effective_rep(to_rep, overrides.get(to_rep.id)), now=now, open_leads=loads.get(to_rep.id, 0),
            excluded=False, shift_required=False,
        )  # fmt: skip
        chosen = Assignment(
            kind=DecisionKind.REASSIGNED,
            rep=to_rep,
            team_id=to_rep.team,
            queue_id=None,
            rule_id="manager",
            reason=f"Chosen by a manager: {detail}" if detail else "Chosen by a manager",
            # The manager's call stands even if the rep is full or away; the trace says so for the record.
            trace={"decided_by": "manager", "picked": to_rep.id, "rep_check": check.skipped_because or "eligible"},
            rotation=None,
        )
    return await decide(
        session,
        snapshot or LeadScored.model_validate(previous.lead),
        config,
        overrides,
        decision_id=reassignment_id_for(previous.decision_id),
        sla_kind=SlaKind(lead.sla_kind or previous.sla_kind),
        now=now,
        excluded_rep_ids=frozenset(excluded),
        reassignment={
            "cause": cause,
            "detail": detail,
            "previous_decision_id": previous.decision_id,
            "previous_owner": lead.owner_rep_id,
            "never_again": excluded,
        },
        chosen=chosen,
    )


def _cause_phrase(reassignment: Mapping[str, Any]) -> str:
    previous = reassignment.get("previous_owner") or "the queue"
    cause = reassignment.get("cause")
    if cause == ReassignCause.SLA_BREACH:
        return f"{previous} missed the SLA"
    if cause == ReassignCause.REJECTED:
        return f"rejected by {previous}"
    if cause == ReassignCause.REP_UNAVAILABLE:
        return f"{previous} is unavailable"
    if cause == ReassignCause.MANAGER:
        return f"taken from {previous} by a manager"
    return str(cause)
