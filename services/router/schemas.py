"""Router's HTTP bodies and answers."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from services.router.config import OutOfOffice
from shared.events import ScoreReason


class ScoreOut(BaseModel):
    total: float
    fit: float
    intent: float
    reasons: list[ScoreReason]


class OwnerOut(BaseModel):
    rep_id: str
    name: str
    team: str | None


class SlaOut(BaseModel):
    kind: str
    due_at: datetime
    status: str = Field(description="open (clock running), met (contact logged), breached, queued (no owner)")


class FollowUpsOut(BaseModel):
    attempts: int
    target: int
    first_contact_at: datetime | None


class DecisionOut(BaseModel):
    """One decision in a lead's history: first assignment, then any reassignments."""

    decision_id: str
    kind: str
    rep_id: str | None
    team: str | None
    queue: str | None
    rule: str
    reason: str
    sla_kind: str
    sla_due_at: datetime
    decided_at: datetime


class LeadOut(BaseModel):
    """Where a lead stands: score, rank, stage, who owns it, by when, and why (with the full trace)."""

    lead_id: str
    score: ScoreOut
    rank: str
    temperature: str
    stage: str
    routed: bool
    owner: OwnerOut | None
    queue: str | None
    sla: SlaOut | None
    follow_ups: FollowUpsOut
    never_again: list[str] = Field(description="Reps who rejected the lead or let its SLA lapse.")
    why: str | None
    trace: dict[str, Any] | None
    decision_id: str | None
    history: list[DecisionOut]
    updated_at: datetime


class WorkingHoursOut(BaseModel):
    days: list[str]
    start: time
    end: time


class RepOut(BaseModel):
    """A rep as routing sees them now: routing.yaml with runtime changes on top, load and availability."""

    rep_id: str
    name: str
    team: str
    email: str
    slack_id: str
    timezone: str
    locale: str
    working_hours: WorkingHoursOut | None
    capacity: int
    weight: int
    active: bool
    out_of_office: list[OutOfOffice]
    open_leads: int
    available: bool = Field(description="Takes new leads now (active, not on leave, below capacity).")
    unavailable_because: str | None
    overridden: list[str] = Field(description="Fields changed at run time (PUT), over routing.yaml.")


class RepsOut(BaseModel):
    reps: list[RepOut]


class RepUpdate(BaseModel):
    """A partial change to a rep, applied at once on every instance; ``null`` resets a field to routing.yaml."""

    model_config = ConfigDict(extra="forbid")

    active: StrictBool | None = None
    capacity: StrictInt | None = Field(default=None, ge=0, le=100_000)
    out_of_office: list[OutOfOffice] | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _something(self) -> RepUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one of: active, capacity, out_of_office")
        return self


class RepUpdated(RepOut):
    reassigned: list[str] = Field(description="Lead ids whose running SLA moved to another rep because of this change.")


class ReassignRequest(BaseModel):
    """A manager hands a routed lead to a named rep."""

    model_config = ConfigDict(extra="forbid")

    rep_id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,100}$")
    reason: str = Field(default="", max_length=500)


class Reassigned(BaseModel):
    lead_id: str
    decision_id: str
    rep_id: str
