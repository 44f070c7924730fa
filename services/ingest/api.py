"""Thin HTTP routes for the contract's events: authenticate, validate, normalize (pure), accept, answer."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError

from services.ingest import metrics
from services.ingest.deps import (
    JsonAnswer,
    Principal,
    api_key_principal,
    form_principal,
    header_docs,
    limit,
    respond,
    settings_of,
    state_of,
)
from services.ingest.domain import IncomingBody, to_lead_event
from services.ingest.schemas import (
    Accepted,
    BatchItemResult,
    BatchRequest,
    BatchResponse,
    BehaviorEvent,
    FeedbackEvent,
    FormEvent,
    TradeshowEvent,
    WebinarEvent,
)
from services.ingest.signatures import SignatureError, verify_leadflow
from shared.events import Channel, LeadEvent

router = APIRouter(prefix="/v1", tags=["events"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong API key, form key or signature"},
    413: {"description": "Body over the size limit"},
    415: {"description": "Not application/json"},
    422: {"description": "The JSON path and reason of each bad field"},
    429: {"description": "Over the rate limit; see Retry-After"},
    503: {"description": "Kafka or the database is unavailable: nothing stored; see Retry-After"},
}
_EVENT_ROUTE: dict[str, Any] = {"responses": _ERRORS, "openapi_extra": header_docs("X-API-Key", "Idempotency-Key")}


async def behavior_principal(request: Request) -> Principal:
    """Behaviour webhooks are signed: sha256=HMAC(WEBHOOK_SECRET, "<timestamp>.<raw body>")."""
    settings = settings_of(request)
    try:
        verify_leadflow(
            settings.webhook_secret,
            request.headers.get("x-leadflow-timestamp"),
            request.headers.get("x-leadflow-signature"),
            await request.body(),
            now=time.time(),
            tolerance_s=settings.signature_tolerance_s,
        )
    except SignatureError as exc:
        metrics.REJECTED.labels("behavior", exc.code).inc()
        raise HTTPException(401, {"error": exc.code, "detail": exc.detail}) from None
    principal = Principal("behavior", "signed:behavior")
    limit(request, principal)
    return principal


def _event(request: Request, channel: Channel, body: IncomingBody, source: str, now: datetime) -> LeadEvent:
    return to_lead_event(
        channel, body, received_at=now, source=source, default_region=settings_of(request).default_phone_region
    )


async def _accept_one(request: Request, principal: Principal, channel: Channel, body: IncomingBody) -> JSONResponse:
    async def produce() -> Accepted:
        now = datetime.now(UTC)
        event = _event(request, channel, body, f"api:{channel.value}", now)
        await state_of(request).intake.accept([event], request.headers.get("x-correlation-id"), now)
        return Accepted(event_id=event.event_id, lead_id=event.lead_id)

    return await respond(request, principal, 202, produce)


async def _honeypot_filled(request: Request) -> bool:
    field = settings_of(request).form_honeypot_field
    if not field:
        return False
    try:
        # FastAPI parsed the body already to validate it: request.json() hands back that parse, not a new one.
        raw = await request.json()
    except ValueError:
        return False
    return isinstance(raw, dict) and bool(raw.get(field))


@router.post(
    "/events/form",
    status_code=202,
    response_model=Accepted,
    responses=_ERRORS,
    openapi_extra=header_docs("X-API-Key", "X-Form-Key", "Idempotency-Key"),
)
async def post_form(
    request: Request,
    body: FormEvent,
    principal: Annotated[Principal, Depends(form_principal)],
) -> JSONResponse:
    """A web form: demo request, contact, document request, pricing inquiry or newsletter signup.

    Browsers may post with a site's public ``X-Form-Key``; a filled honeypot field is answered like a success
    and dropped, so a bot learns nothing.
    """
    if await _honeypot_filled(request):
        metrics.HONEYPOT.inc()
        event = _event(request, Channel.WEB_FORM, body, "api:web_form", datetime.now(UTC))
        accepted = Accepted(event_id=event.event_id, lead_id=event.lead_id)
        return JsonAnswer(status_code=202, content=accepted.model_dump())
    return await _accept_one(request, principal, Channel.WEB_FORM, body)


@router.post("/events/webinar", status_code=202, response_model=Accepted, **_EVENT_ROUTE)
async def post_webinar(
    request: Request,
    body: WebinarEvent,
    principal: Annotated[Principal, Depends(api_key_principal)],
) -> JSONResponse:
    """A webinar or seminar: registered, attended, no-show, question, consultation request."""
    return await _accept_one(request, principal, Channel.WEBINAR, body)


@router.post("/events/tradeshow", status_code=202, response_model=Accepted, **_EVENT_ROUTE)
async def post_tradeshow(
    request: Request,
    body: TradeshowEvent,
    principal: Annotated[Principal, Depends(api_key_principal)],
) -> JSONResponse:
    """A trade-show badge scan with the rep's rating."""
    return await _accept_one(request, principal, Channel.TRADESHOW, body)


@router.post(
    "/events/behavior",
    status_code=202,
    response_model=Accepted,
    responses=_ERRORS,
    openapi_extra=header_docs("X-LeadFlow-Timestamp", "X-LeadFlow-Signature", "Idempotency-Key"),
)
async def post_behavior(
    request: Request,
    body: BehaviorEvent,
    principal: Annotated[Principal, Depends(behavior_principal)],
) -> JSONResponse:
    """A signed marketing-automation behaviour webhook."""
    return await _accept_one(request, principal, Channel.BEHAVIOR, body)


@router.post("/events/feedback", status_code=202, response_model=Accepted, **_EVENT_ROUTE)
async def post_feedback(
    request: Request,
    body: FeedbackEvent,
    principal: Annotated[Principal, Depends(api_key_principal)],
) -> JSONResponse:
    """Sales feedback: accepted, rejected, contacted, BANT, meeting, won, lost."""
    return await _accept_one(request, principal, Channel.FEEDBACK, body)


BATCH_MODELS: dict[str, tuple[Channel, TypeAdapter[Any]]] = {
    "form": (Channel.WEB_FORM, TypeAdapter(FormEvent)),
    "webinar": (Channel.WEBINAR, TypeAdapter(WebinarEvent)),
    "tradeshow": (Channel.TRADESHOW, TypeAdapter(TradeshowEvent)),
    "behavior": (Channel.BEHAVIOR, TypeAdapter(BehaviorEvent)),
    "feedback": (Channel.FEEDBACK, TypeAdapter(FeedbackEvent)),
}

BATCH_SOURCES = {channel: f"api:batch:{channel.value}" for channel, _ in BATCH_MODELS.values()}


def _item_errors(exc: ValidationError, index: int) -> list[dict[str, str]]:
    return [
        {"path": "/".join(("events", str(index), "event", *(str(p) for p in e["loc"]))), "reason": e["msg"]}
        for e in exc.errors()
    ]


@router.post("/events/batch", status_code=207, response_model=BatchResponse, **_EVENT_ROUTE)
async def post_batch(
    request: Request,
    body: BatchRequest,
    principal: Annotated[Principal, Depends(api_key_principal)],
) -> JSONResponse:
    """Up to 1,000 mixed events (MAX_BATCH_EVENTS); each accepted (202) or rejected (422) on its own."""
    limit_ = settings_of(request).max_batch_events
    if len(body.events) > limit_:
        raise HTTPException(
            422,
            {"error": "validation_failed", "errors": [{"path": "body/events", "reason": f"at most {limit_} events"}]},
        )

    async def produce() -> BaseModel:
        now = datetime.now(UTC)
        region = settings_of(request).default_phone_region
        results: list[BatchItemResult] = []
        events: list[LeadEvent] = []
        for index, item in enumerate(body.events):
            model = BATCH_MODELS.get(item.channel)
            if model is None:
                reason = f"channel must be one of {', '.join(BATCH_MODELS)}"
                errors = [{"path": f"events/{index}/channel", "reason": reason}]
                results.append(BatchItemResult(index=index, status=422, errors=errors))
                continue
            channel, adapter = model
            try:
                parsed = adapter.validate_python(item.event)
            except ValidationError as exc:
                results.append(BatchItemResult(index=index, status=422, errors=_item_errors(exc, index)))
                continue
            source = BATCH_SOURCES[channel]
            event = to_lead_event(channel, parsed, received_at=now, source=source, default_region=region)
            events.append(event)
            results.append(BatchItemResult(index=index, status=202, event_id=event.event_id, lead_id=event.lead_id))
        await state_of(request).intake.accept(events, request.headers.get("x-correlation-id"), now)
        if len(results) > len(events):
            metrics.REJECTED.labels("batch", "invalid_item").inc(len(results) - len(events))
        return BatchResponse(accepted=len(events), rejected=len(results) - len(events), results=results)

    return await respond(request, principal, 207, produce)
