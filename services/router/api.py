"""Thin HTTP routes over the router's state."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Request

from services.router import repository
from services.router.models import decisions
from services.router.schemas import LeadOut, OwnerOut, ScoreOut, SlaOut
from shared.events import ScoreReason

router = APIRouter(prefix="/v1", tags=["leads"])
LeadId = Path(pattern=r"^ld_[0-9a-f]{24}$", description="The lead's id, as returned by ingest")


@router.get("/leads/{lead_id}")
async def get_lead(request: Request, lead_id: str = LeadId) -> LeadOut:
    """Score, rank, temperature, stage, owner, SLA due time, and why it went where it went."""
    config = request.app.state.routing
    async with request.app.state.sessions() as session:
        row = await repository.lead_row(session, lead_id)
        if row is None:
            raise HTTPException(404, {"error": "lead_not_found", "lead_id": lead_id})
        trace = None
        if row.decision_id:
            trace = (
                await session.execute(sa.select(decisions.c.trace).where(decisions.c.decision_id == row.decision_id))
            ).scalar_one_or_none()
    owner = None
    if row.owner_rep_id:
        rep = config.rep(row.owner_rep_id)
        owner = OwnerOut(rep_id=row.owner_rep_id, name=rep.name if rep else row.owner_rep_id, team=row.team_id)
    return LeadOut(
        lead_id=row.lead_id,
        score=ScoreOut(
            total=row.total,
            fit=row.fit,
            intent=row.intent,
            reasons=[ScoreReason.model_validate(r) for r in row.reasons],
        ),
        rank=row.rank,
        temperature=row.temperature,
        stage=row.stage,
        routed=row.routed,
        owner=owner,
        queue=row.queue_id,
        sla=SlaOut(kind=row.sla_kind, due_at=row.sla_due_at, status=row.sla_status or "open") if row.sla_kind else None,
        why=row.why,
        trace=trace,
        decision_id=row.decision_id,
        updated_at=row.updated_at,
    )
