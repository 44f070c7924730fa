"""Scoring's HTTP answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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


class ModelOut(BaseModel):
    """The scoring model in use."""

    model_version: str
    path: str


class JobStarted(BaseModel):
    """A background job was started; follow it at ``status_url``."""

    job_id: str
    cause: str
    model_version: str
    previous_model_version: str | None = None
    model_changed: bool | None = None
    status_url: str


class ReevaluateIn(BaseModel):
    """Optionally narrow a re-evaluation to some leads (e.g. after fixing one lead's events)."""

    model_config = ConfigDict(extra="forbid")

    lead_ids: list[Annotated[str, StringConstraints(pattern=r"^ld_[0-9a-f]{24}$")]] | None = Field(
        default=None, min_length=1, max_length=10_000
    )


class JobOut(BaseModel):
    """A rescore or re-evaluation job and what it changed so far."""

    job_id: str
    cause: str
    state: str = Field(description="running, done, failed, superseded (a newer reload) or interrupted (shutdown)")
    model_version: str
    scanned: int
    changed_rank: int
    changed_stage: int
    changed_rank_or_stage: int
    changed_temperature: int
    went_down: int
    published: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None
