"""Builders for the notifier's tests: decisions and SLA events with sensible defaults and unique ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import (
    Activity,
    Bant,
    Channel,
    DecisionKind,
    EventKind,
    LeadEvent,
    LeadScored,
    Person,
    Rank,
    RepRef,
    RoutingDecision,
    ScoreReason,
    Seniority,
    SlaEvent,
    SlaEventKind,
    SlaKind,
    Stage,
    Temperature,
)

# Tue 24 Nov 2026, 10:05 in Tokyo.
NOW = datetime(2026, 11, 24, 1, 5, tzinfo=UTC)


def a_person(**overrides: Any) -> Person:
    fields: dict[str, Any] = {
        "email": "jane.doe@acme.example",
        "email_domain": "acme.example",
        "name": "Jane Doe",
        "company": "Acme Robotics",
        "company_key": "acme robotics",
        "title": "VP of Operations",
        "seniority": Seniority.DECISION_MAKER,
        "industry": "Manufacturing",
        "employees": 500,
        "country": "US",
    }
    return Person(**(fields | overrides))


def a_rep(**overrides: Any) -> RepRef:
    fields: dict[str, Any] = {
        "rep_id": "rep-7",
        "name": "Ken Sato",
        "email": "ken.sato@seller.example",
        "slack_id": "U07KENSATO",
        "timezone": "Asia/Tokyo",
        "locale": "en",
        "manager_slack_id": "U01BOSS",
        "manager_email": "boss@seller.example",
    }
    return RepRef(**(fields | overrides))


def a_manager(**overrides: Any) -> RepRef:
    fields: dict[str, Any] = {
        "rep_id": "mgr-1",
        "name": "Aiko Tanaka",
        "email": "aiko.tanaka@seller.example",
        "slack_id": "U01BOSS",
        "timezone": "Asia/Tokyo",
        "locale": "en",
    }
    return RepRef(**(fields | overrides))


def a_lead(
    *,
    lead_id: str = "ld_0123456789abcdef01234567",
    person: Person | None = None,
    trigger_kind: EventKind = EventKind.DEMO_REQUEST,
    details: dict[str, Any] | None = None,
    activity: list[Activity] | None = None,
    now: datetime = NOW,
) -> LeadScored:
    trigger_at = now - timedelta(minutes=2)
    who = person or a_person()
    trigger = LeadEvent(
        event_id=f"evt-{uuid.uuid4().hex[:8]}",
        lead_id=lead_id,
        channel=Channel.WEBINAR if trigger_kind == EventKind.WEBINAR_ATTENDED else Channel.WEB_FORM,
        kind=trigger_kind,
        occurred_at=trigger_at,
        received_at=trigger_at,
        source="api:form",
        person=who,
        details=details or {},
    )
    return LeadScored(
        lead_id=lead_id,
        person=who,
        fit=30,
        intent=40,
        total=70,
        rank=Rank.A,
        temperature=Temperature.HOT,
        stage=Stage.MQL,
        previous_stage=Stage.LEAD,
        reasons=[ScoreReason(rule="form.demo_request", label="Demo request", points=40, value=40)],
        bant=Bant(budget=True),
        trigger=trigger,
        recent_activity=activity or [],
        model_version="scoring-test",
        scored_at=now,
    )


def a_decision(
    *,
    decision_id: str | None = None,
    owner: RepRef | None = None,
    lead: LeadScored | None = None,
    sla_kind: SlaKind = SlaKind.RANK_A,
    now: datetime = NOW,
) -> RoutingDecision:
    the_lead = lead or a_lead(now=now)
    return RoutingDecision(
        decision_id=decision_id or f"dec-{uuid.uuid4().hex[:12]}",
        lead_id=the_lead.lead_id,
        kind=DecisionKind.ASSIGNED,
        owner=owner or a_rep(),
        team="enterprise",
        rule="enterprise",
        reason="Enterprise team, round robin",
        sla_kind=sla_kind,
        sla_due_at=now + timedelta(hours=1),
        lead=the_lead,
        decided_at=now,
    )


def an_sla_event(
    kind: SlaEventKind,
    *,
    owner: RepRef | None = None,
    escalate_to: RepRef | None = None,
    team_channel: str | None = None,
    due_in: timedelta = timedelta(minutes=15),
    late_by: timedelta | None = None,
    lead: LeadScored | None = None,
    now: datetime = NOW,
    unowned: bool = False,
) -> SlaEvent:
    the_lead = lead or a_lead(now=now)
    decision_id = f"dec-{uuid.uuid4().hex[:12]}"
    due_at = now - late_by if late_by is not None else now + due_in
    return SlaEvent(
        sla_event_id=f"{decision_id}:{kind.value}:0",
        kind=kind,
        decision_id=decision_id,
        lead_id=the_lead.lead_id,
        sla_kind=SlaKind.RANK_A,
        due_at=due_at,
        fired_at=now,
        reminder_fraction=0.75 if kind == SlaEventKind.REMINDER else None,
        late_by_seconds=late_by.total_seconds() if late_by is not None else None,
        owner=None if unowned else (owner or a_rep()),
        escalate_to=escalate_to,
        team_channel=team_channel,
        follow_up_attempts=1,
        lead=the_lead,
    )
