"""Thin HTTP routes over the notifier's state."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from services.notifier import repository

router = APIRouter(prefix="/v1", tags=["notifications"])


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
