"""Thin HTTP routes over scoring's state."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Request

from services.scoring import repository
from services.scoring.schemas import LeadScoreOut, StageStepOut
from shared.events import Bant, ScoreReason

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
