"""Thin HTTP routes: what a lead was sent, and Slack's interactivity request URL."""

from __future__ import annotations

import time
from datetime import datetime

from fastapi import APIRouter, BackgroundTasks, HTTPException, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from services.notifier import metrics, repository
from services.notifier.feedback import InteractionHandler
from services.notifier.interactions import InteractionError, SignatureError, parse_interaction, verify_slack_signature
from services.notifier.settings import NotifierSettings

router = APIRouter(prefix="/v1", tags=["notifications"])
slack_router = APIRouter(prefix="/slack", tags=["slack"])


class NotificationOut(BaseModel):
    key: str
    decision_id: str
    medium: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@router.get("/leads/{lead_id}/notifications")
async def lead_notifications(
    request: Request, lead_id: str = Path(pattern=r"^ld_[0-9a-f]{24}$")
) -> list[NotificationOut]:
    """Every alert owed for a lead, with its delivery status: what the rep was told, and when."""
    async with request.app.state.sessions() as session:
        rows = await repository.of_lead(session, lead_id)
    return [
        NotificationOut(
            key=r.key, decision_id=r.decision_id, medium=r.medium, kind=r.kind, status=r.status,
            attempts=r.attempts, last_error=r.last_error, created_at=r.created_at, sent_at=r.sent_at,
        )
        for r in rows
    ]  # fmt: skip


@slack_router.post("/interactions", response_model=None)
async def slack_interactions(request: Request, background: BackgroundTasks) -> Response:
    """Slack's interactivity URL: a signed button click or modal submit becomes sales feedback."""
    settings: NotifierSettings = request.app.state.settings
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > settings.slack_interaction_max_bytes:
        raise HTTPException(413, detail={"error": "payload_too_large"})
    body = await request.body()
    if len(body) > settings.slack_interaction_max_bytes:
        raise HTTPException(413, detail={"error": "payload_too_large"})
    try:
        verify_slack_signature(
            settings.slack_signing_secret,
            request.headers.get("x-slack-request-timestamp"),
            request.headers.get("x-slack-signature"),
            body,
            now=time.time(),
            max_age_s=settings.slack_signature_max_age_s,
        )
    except SignatureError as exc:
        metrics.INTERACTIONS.labels("unverified", exc.reason).inc()
        raise HTTPException(401, detail={"error": "invalid_signature", "reason": exc.reason}) from exc
    handler: InteractionHandler = request.app.state.interactions
    try:
        reply = await handler.handle(parse_interaction(body))
    except InteractionError as exc:
        metrics.INTERACTIONS.labels("unreadable", "rejected").inc()
        raise HTTPException(400, detail={"error": "invalid_payload", "reason": str(exc)}) from exc
    if reply.after is not None:
        background.add_task(handler.follow_up, reply.after)
    if reply.body is not None:
        return JSONResponse(reply.body)
    return Response(status_code=200)
