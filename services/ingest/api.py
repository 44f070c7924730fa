"""Thin HTTP routes: validate, normalize (pure), publish durably, answer 202."""

from __future__ import annotations

import hmac
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from services.ingest import metrics
from services.ingest.domain import IncomingBody, to_lead_event
from services.ingest.producer import EventPublisher, PublishUnavailable
from services.ingest.schemas import Accepted, BehaviorEvent, FeedbackEvent, FormEvent, TradeshowEvent, WebinarEvent
from services.ingest.settings import IngestSettings
from shared.events import Channel, LeadEvent
from shared.signatures import leadflow_signature

router = APIRouter(prefix="/v1", tags=["events"])
SIGNATURE_TOLERANCE_S = 300


def settings_of(request: Request) -> IngestSettings:
    return request.app.state.settings


def publisher_of(request: Request) -> EventPublisher:
    return request.app.state.publisher


def require_api_key(
    request: Request, x_api_key: Annotated[str | None, Header(description="One of INGEST_API_KEYS")] = None
) -> None:
    """Forms, webinars, trade shows, feedback and batch need an API key once keys are configured."""
    keys = settings_of(request).api_keys
    if keys and not any(hmac.compare_digest(x_api_key or "", key) for key in keys):
        raise HTTPException(401, {"error": "invalid_api_key", "detail": "send a valid X-API-Key header"})


async def require_signature(
    request: Request,
    x_leadflow_timestamp: Annotated[str | None, Header()] = None,
    x_leadflow_signature: Annotated[str | None, Header()] = None,
) -> None:
    """Behaviour webhooks are signed: sha256=HMAC(WEBHOOK_SECRET, "<timestamp>.<raw body>")."""
    if not x_leadflow_timestamp or not x_leadflow_signature:
        raise HTTPException(401, {"error": "missing_signature"})
    try:
        sent_at = int(x_leadflow_timestamp)
    except ValueError:
        raise HTTPException(401, {"error": "invalid_timestamp"}) from None
    if abs(time.time() - sent_at) > SIGNATURE_TOLERANCE_S:
        raise HTTPException(401, {"error": "stale_timestamp", "detail": "more than 5 minutes off"})
    body = await request.body()
    expected = leadflow_signature(settings_of(request).webhook_secret, str(sent_at), body)
    if not hmac.compare_digest(expected, x_leadflow_signature):
        raise HTTPException(401, {"error": "invalid_signature"})


async def _accept(request: Request, channel: Channel, body: IncomingBody) -> Accepted:
    settings = settings_of(request)
    event = to_lead_event(
        channel,
        body,
        received_at=datetime.now(UTC),
        source=f"api:{channel.value}",
        default_region=settings.default_phone_region,
    )
    await _publish(request, [event])
    metrics.EVENTS.labels(channel.value, event.kind.value).inc()
    return Accepted(event_id=event.event_id, lead_id=event.lead_id)


async def _publish(request: Request, events: list[LeadEvent]) -> None:
    try:
        await publisher_of(request).publish(events, request.headers.get("x-correlation-id"))
    except PublishUnavailable:
        metrics.PUBLISH_FAILURES.inc()
        raise HTTPException(
            503, {"error": "kafka_unavailable", "detail": "not stored; retry later"}, headers={"Retry-After": "5"}
        ) from None


@router.post("/events/form", status_code=202, dependencies=[Depends(require_api_key)])
async def post_form(request: Request, body: FormEvent) -> Accepted:
    """A web form: demo request, contact, document request, pricing inquiry or newsletter signup."""
    return await _accept(request, Channel.WEB_FORM, body)


@router.post("/events/webinar", status_code=202, dependencies=[Depends(require_api_key)])
async def post_webinar(request: Request, body: WebinarEvent) -> Accepted:
    """A webinar or seminar: registered, attended, no-show, question, consultation request."""
    return await _accept(request, Channel.WEBINAR, body)


@router.post("/events/tradeshow", status_code=202, dependencies=[Depends(require_api_key)])
async def post_tradeshow(request: Request, body: TradeshowEvent) -> Accepted:
    """A trade-show badge scan with the rep's rating."""
    return await _accept(request, Channel.TRADESHOW, body)


@router.post("/events/behavior", status_code=202, dependencies=[Depends(require_signature)])
async def post_behavior(request: Request, body: BehaviorEvent) -> Accepted:
    """A signed marketing-automation behaviour webhook."""
    return await _accept(request, Channel.BEHAVIOR, body)


@router.post("/events/feedback", status_code=202, dependencies=[Depends(require_api_key)])
async def post_feedback(request: Request, body: FeedbackEvent) -> Accepted:
    """Sales feedback: accepted, rejected, contacted, BANT, meeting, won, lost."""
    return await _accept(request, Channel.FEEDBACK, body)


BATCH_MODELS: dict[str, tuple[Channel, TypeAdapter[Any]]] = {
    "form": (Channel.WEB_FORM, TypeAdapter(FormEvent)),
    "webinar": (Channel.WEBINAR, TypeAdapter(WebinarEvent)),
    "tradeshow": (Channel.TRADESHOW, TypeAdapter(TradeshowEvent)),
    "behavior": (Channel.BEHAVIOR, TypeAdapter(BehaviorEvent)),
    "feedback": (Channel.FEEDBACK, TypeAdapter(FeedbackEvent)),
}


class BatchItem(BaseModel):
    channel: Literal["form", "webinar", "tradeshow", "behavior", "feedback"]
    event: dict[str, Any]


class BatchRequest(BaseModel):
    events: Annotated[list[BatchItem], Field(min_length=1, max_length=1000)]


class BatchItemResult(BaseModel):
    index: int
    status: int
    event_id: str | None = None
    lead_id: str | None = None
    errors: list[dict[str, str]] | None = None


class BatchResponse(BaseModel):
    accepted: int
    rejected: int
    results: list[BatchItemResult]


@router.post("/events/batch", status_code=207, dependencies=[Depends(require_api_key)])
async def post_batch(request: Request, body: BatchRequest) -> BatchResponse:
    """Up to 1,000 mixed events; each accepted (202) or rejected (422) on its own."""
    settings = settings_of(request)
    received_at = datetime.now(UTC)
    results: list[BatchItemResult] = []
    events: list[LeadEvent] = []
    for index, item in enumerate(body.events):
        channel, adapter = BATCH_MODELS[item.channel]
        try:
            parsed = adapter.validate_python(item.event)
        except ValidationError as exc:
            errors = [{"path": "/".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
            results.append(BatchItemResult(index=index, status=422, errors=errors))
            continue
        event = to_lead_event(
            channel, parsed, received_at=received_at, source=f"api:batch:{channel.value}",
            default_region=settings.default_phone_region,
        )  # fmt: skip
        events.append(event)
        results.append(BatchItemResult(index=index, status=202, event_id=event.event_id, lead_id=event.lead_id))
    await _publish(request, events)
    for event in events:
        metrics.EVENTS.labels(event.channel.value, event.kind.value).inc()
    return BatchResponse(accepted=len(events), rejected=len(results) - len(events), results=results)
