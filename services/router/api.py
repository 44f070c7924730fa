"""Thin HTTP routes over the router's state: a lead's routing, and the reps (listed, changed at run time)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Request

from services.router import repository
from services.router.config import Rep, RepOverride, RoutingConfig
from services.router.decisions import ReassignCause, reassign
from services.router.domain import away_reason, check_rep, effective_rep
from services.router.models import decisions
from services.router.schemas import (
    DecisionOut,
    FollowUpsOut,
    LeadOut,
    OwnerOut,
    Reassigned,
    ReassignRequest,
    RepOut,
    RepsOut,
    RepUpdate,
    RepUpdated,
    ScoreOut,
    SlaOut,
    WorkingHoursOut,
)
from shared.db import unit_of_work
from shared.events import ScoreReason
from shared.kafka import OutgoingMessage
from shared.logging import log_fields

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["leads"])
reps_router = APIRouter(prefix="/v1", tags=["reps"])
LeadId = Path(pattern=r"^ld_[0-9a-f]{24}$", description="The lead's id, as returned by ingest")
RepId = Path(pattern=r"^[A-Za-z0-9._:-]{1,100}$", description="The rep's id in routing.yaml")


@router.get("/leads/{lead_id}")
async def get_lead(request: Request, lead_id: str = LeadId) -> LeadOut:
    """Score, rank, temperature, stage, owner, SLA due time, and why it went where it went."""
    config: RoutingConfig = request.app.state.routing
    async with request.app.state.sessions() as session:
        # One snapshot for the row, its trace and its history: a decision committed between two reads would
        # otherwise show the new history next to the old owner.
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        row = await repository.lead_row(session, lead_id)
        if row is None:
            raise HTTPException(404, {"error": "lead_not_found", "lead_id": lead_id})
        trace = None
        if row.decision_id:
            trace = (
                await session.execute(sa.select(decisions.c.trace).where(decisions.c.decision_id == row.decision_id))
            ).scalar_one_or_none()
        history = await repository.decision_history(session, lead_id)
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
        follow_ups=FollowUpsOut(
            attempts=row.follow_up_attempts, target=config.sla.follow_up_target, first_contact_at=row.first_contact_at
        ),
        never_again=list(row.excluded_rep_ids or []),
        why=row.why,
        trace=trace,
        decision_id=row.decision_id,
        history=[
            DecisionOut(
                decision_id=d.decision_id,
                kind=d.kind,
                rep_id=d.rep_id,
                team=d.team_id,
                queue=d.queue_id,
                rule=d.rule_id,
                reason=d.reason,
                sla_kind=d.sla_kind,
                sla_due_at=d.sla_due_at,
                decided_at=d.decided_at,
            )
            for d in history
        ],
        updated_at=row.updated_at,
    )


@router.post("/leads/{lead_id}/reassign")
async def reassign_lead(request: Request, body: ReassignRequest, lead_id: str = LeadId) -> Reassigned:
    """A manager gives a routed lead to a named rep: recorded, alerted and clocked like any decision."""
    config: RoutingConfig = request.app.state.routing
    rep = _known_rep(request, body.rep_id)
    now = datetime.now(UTC)
    async with unit_of_work(request.app.state.sessions) as session:
        lead = await repository.lead_row(session, lead_id, lock=True)
        if lead is None:
            raise HTTPException(404, {"error": "lead_not_found", "lead_id": lead_id})
        if lead.owner_rep_id == rep.id:
            raise HTTPException(409, {"error": "already_owner", "detail": f"{rep.id} already owns this lead"})
        overrides = await repository.load_overrides(session)
        message = await reassign(
            session, lead, config, overrides, now=now, cause=ReassignCause.MANAGER,
            detail=body.reason.strip() or None, to_rep=rep,
        )  # fmt: skip
        if message is None:
            raise HTTPException(409, {"error": "not_routed", "detail": "the lead has no routing decision to replace"})
        await request.app.state.outbox.add(session, [message])
    await request.app.state.outbox.flush([message])
    log.info("lead reassigned by a manager", extra=log_fields(lead_id=lead_id, rep=rep.id))
    return Reassigned(lead_id=lead_id, decision_id=message.id, rep_id=rep.id)


@reps_router.get("/reps")
async def list_reps(request: Request) -> RepsOut:
    """Every rep in routing.yaml, with runtime changes applied, open leads and whether they take leads now."""
    config: RoutingConfig = request.app.state.routing
    async with request.app.state.sessions() as session:
        overrides = await repository.load_overrides(session)
        loads = await repository.open_loads(session)
    now = datetime.now(UTC)
    return RepsOut(reps=[_rep_out(rep, overrides.get(rep.id), loads.get(rep.id, 0), now) for rep in config.reps])


@reps_router.get("/reps/{rep_id}")
async def get_rep(request: Request, rep_id: str = RepId) -> RepOut:
    """One rep as routing sees them now."""
    rep = _known_rep(request, rep_id)
    async with request.app.state.sessions() as session:
        overrides = await repository.load_overrides(session)
        loads = await repository.open_loads(session)
    return _rep_out(rep, overrides.get(rep.id), loads.get(rep.id, 0), datetime.now(UTC))


@reps_router.put("/reps/{rep_id}")
async def update_rep(request: Request, body: RepUpdate, rep_id: str = RepId) -> RepUpdated:
    """Change a rep at run time (active, capacity, out of office); a rep who becomes unavailable hands over
    their leads whose SLA is still running, each to the next eligible rep."""
    config: RoutingConfig = request.app.state.routing
    rep = _known_rep(request, rep_id)
    now = datetime.now(UTC)
    changes: dict[str, Any] = {}
    for field in sorted(body.model_fields_set):
        value = getattr(body, field)
        changes[field] = [o.model_dump(mode="json") for o in value] if field == "out_of_office" and value else value
    messages: list[OutgoingMessage] = []
    reassigned: list[str] = []
    async with unit_of_work(request.app.state.sessions) as session:
        await repository.save_override(session, rep_id, changes, now)
        overrides = await repository.load_overrides(session)
        current = effective_rep(rep, overrides.get(rep_id))
        away = away_reason(current, now)
        if away is not None:
            for lead in await repository.open_sla_leads_of(session, rep_id):
                message = await reassign(
                    session, lead, config, overrides, now=now, cause=ReassignCause.REP_UNAVAILABLE, detail=away
                )
                if message is not None:
                    messages.append(message)
                    reassigned.append(lead.lead_id)
            await request.app.state.outbox.add(session, messages)
        loads = await repository.open_loads(session)
    await request.app.state.outbox.flush(messages)
    log.info(
        "rep updated", extra=log_fields(rep=rep_id, fields=sorted(changes), reassigned=len(reassigned), away=bool(away))
    )
    out = _rep_out(rep, overrides.get(rep_id), loads.get(rep_id, 0), now)
    return RepUpdated(**out.model_dump(), reassigned=reassigned)


def _known_rep(request: Request, rep_id: str) -> Rep:
    rep = request.app.state.routing.rep(rep_id)
    if rep is None:
        raise HTTPException(404, {"error": "rep_not_found", "rep_id": rep_id})
    return rep


def _rep_out(rep: Rep, override: RepOverride | None, open_leads: int, now: datetime) -> RepOut:
    current = effective_rep(rep, override)
    candidate = check_rep(current, now=now, open_leads=open_leads, excluded=False, shift_required=False)
    overridden = [] if override is None else [k for k, v in override.model_dump().items() if v is not None]
    hours = current.working_hours
    return RepOut(
        rep_id=current.id,
        name=current.name,
        team=current.team,
        email=current.email,
        slack_id=current.slack_id,
        timezone=current.timezone,
        locale=current.locale,
        working_hours=WorkingHoursOut(days=list(hours.days), start=hours.start, end=hours.end) if hours else None,
        capacity=current.capacity,
        weight=current.weight,
        active=current.active,
        out_of_office=current.out_of_office,
        open_leads=open_leads,
        available=candidate.eligible,
        unavailable_because=candidate.skipped_because,
        overridden=overridden,
    )
