"""Scoring's HTTP answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from shared.events import Bant, ScoreReason


class StageStepOut(BaseModel):
    from_stage: str
    to_stage: str
    event_id: str | None
    at: datetime


class LeadScoreOut(BaseModel):
    """A lead's score with every reason that produced it, the model version and the stage history."""

    lead_id: str
    total: float
    fit: float
    intent: float
    rank: str
    temperature: str
    stage: str
    bant: Bant
    reasons: list[ScoreReason]
    model_version: str
    scored_at: datetime
    last_event_at: datetime
    stage_history: list[StageStepOut]
