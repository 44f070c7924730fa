"""Router's HTTP answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

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
    status: str


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
    why: str | None
    trace: dict[str, Any] | None
    decision_id: str | None
    updated_at: datetime
