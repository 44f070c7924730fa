"""Thin HTTP routes over scoring's state."""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.scoring import repository
from services.scoring.jobs import JobRunner, ModelHolder, Started
from services.scoring.lead_update import Cause
from services.scoring.schemas import JobOut, JobStarted, LeadScoreOut, ModelOut, ReevaluateIn, StageStepOut
from shared.config_file import ConfigError
from shared.events import Bant, ScoreReason
from shared.logging import log_fields

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["scores"])
LeadId = Path(pattern=r"^ld_[0-9a-f]{24}$", description="The lead's id, as returned by ingest")


@router.get("/leads/{lead_id}/score")
async def get_score(request: Request, lead_id: str = LeadId) -> LeadScoreOut:
    """The lead's current score, each rule that fired (points, decayed value, event), stage and history."""
    async with request.app.state.sessions() as session:
        row = await repository.get_lead(session, lead_id)
        if row is None:
            raise HTTPException(404, {"error": "lead_not_found", "lead_id": lead_id})
        history = await repository.stage_history_of(session, lead_id)
    return LeadScoreOut(
        lead_id=row.lead_id,
        total=row.total,
        fit=row.fit,
        intent=row.intent,
        rank=row.rank,
        temperature=row.temperature,
        stage=row.stage,
        bant=Bant.model_validate(row.bant),
        reasons=[ScoreReason.model_validate(r) for r in row.reasons],
        model_version=row.model_version,
        scored_at=row.scored_at,
        last_event_at=row.last_event_at,
        stage_history=[
            StageStepOut(from_stage=h.from_stage, to_stage=h.to_stage, event_id=h.event_id, at=h.at) for h in history
        ],
    )


# ---- operations: reload the model, re-evaluate, follow a job ---------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="SCORING_ADMIN_TOKEN")


def require_admin(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """Admin endpoints need ``Authorization: Bearer <SCORING_ADMIN_TOKEN>``."""
    expected: str = request.app.state.admin_token
    given = credentials.credentials if credentials is not None else ""
    # constant-time comparison: the answer's timing must not reveal how much of a guess was right
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, {"error": "unauthorized"}, headers={"WWW-Authenticate": "Bearer"})


admin = APIRouter(prefix="/v1/admin", tags=["operations"], dependencies=[Depends(require_admin)])
JobId = Path(pattern=r"^job_[0-9a-f]{20}$", description="A job id, as returned when the job started")


def _status_url(job_id: str) -> str:
    return f"/v1/admin/jobs/{job_id}"


@admin.get("/model")
async def get_model(request: Request) -> ModelOut:
    """The scoring model in use."""
    holder: ModelHolder = request.app.state.model
    return ModelOut(model_version=holder().version, path=str(holder.path))


@admin.post("/model/reload", status_code=202)
async def reload_model(request: Request) -> JobStarted:
    """Load scoring.yaml again and rescore every lead in the background (same as SIGHUP)."""
    try:
        previous, started = await reload_and_rescore(request.app.state.model, request.app.state.jobs)
    except ConfigError as exc:
        # the service keeps scoring with the model it had: a typo must not stop scoring
        raise HTTPException(422, {"error": "invalid_model", "problems": str(exc).splitlines()}) from exc
    return JobStarted(
        job_id=started.job_id,
        cause=Cause.MODEL.value,
        model_version=started.model_version,
        previous_model_version=previous,
        model_changed=previous != started.model_version,
        status_url=_status_url(started.job_id),
    )


@admin.post("/reevaluate", status_code=202)
async def reevaluate(request: Request, body: ReevaluateIn | None = None) -> JobStarted:
    """Start a decay re-evaluation now (it also runs periodically), of every lead or of some."""
    runner: JobRunner = request.app.state.jobs
    started = await runner.start(Cause.DECAY, body.lead_ids if body is not None else None)
    return JobStarted(
        job_id=started.job_id,
        cause=Cause.DECAY.value,
        model_version=started.model_version,
        status_url=_status_url(started.job_id),
    )


@admin.get("/jobs/{job_id}")
async def get_job(request: Request, job_id: str = JobId) -> JobOut:
    """A rescore or re-evaluation job: its state and how many leads changed rank, stage or temperature."""
    async with request.app.state.sessions() as session:
        row = await repository.get_job(session, job_id)
    if row is None:
        raise HTTPException(404, {"error": "job_not_found", "job_id": job_id})
    return JobOut.model_validate(row, from_attributes=True)


async def reload_and_rescore(holder: ModelHolder, runner: JobRunner) -> tuple[str, Started]:
    """Reload the model file and start the rescore; returns the previous version and the job."""
    previous, current = holder.reload()
    started = await runner.start(Cause.MODEL)
    log.info(
        "scoring model reloaded",
        extra=log_fields(previous=previous.version, current=current.version, job_id=started.job_id),
    )
    return previous.version, started
