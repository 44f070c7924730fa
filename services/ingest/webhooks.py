"""Native vendor webhooks: Mautic and HubSpot point at LeadFlow with no glue code."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from services.ingest import metrics, repository
from services.ingest.adapters import hubspot, mautic
from services.ingest.deps import Principal, guarded, limit, settings_of, state_of
from services.ingest.domain import known_lead_event, to_lead_event
from services.ingest.intake import StoreUnavailable
from services.ingest.schemas import SkippedItem, VendorItemResult, VendorResponse
from services.ingest.signatures import SignatureError, verify_hubspot_v3, verify_mautic
from shared.db import unit_of_work
from shared.events import LeadEvent

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong signature, or a stale timestamp"},
    413: {"description": "Body over the size limit"},
    415: {"description": "Not application/json"},
    422: {"description": "Not JSON, or not the vendor's delivery shape"},
    429: {"description": "Over the rate limit; see Retry-After"},
    503: {"description": "Kafka or the database is unavailable: nothing stored; see Retry-After"},
}


def _signature_failed(vendor: str, exc: SignatureError) -> HTTPException:
    metrics.REJECTED.labels(vendor, exc.code).inc()
    return HTTPException(401, {"error": exc.code, "detail": exc.detail})


async def mautic_principal(
    request: Request, webhook_signature: Annotated[str | None, Header(alias="Webhook-Signature")] = None
) -> Principal:
    """Mautic's Webhook-Signature: base64 HMAC-SHA256 of the raw body with MAUTIC_WEBHOOK_SECRET."""
    try:
        verify_mautic(settings_of(request).mautic_secret, webhook_signature, await request.body())
    except SignatureError as exc:
        raise _signature_failed("mautic", exc) from None
    principal = Principal("mautic", "signed:mautic")
    limit(request, principal)
    return principal


def _hubspot_uri(request: Request) -> str:
    # HubSpot signs the URL it called; behind a proxy, HUBSPOT_WEBHOOK_URL pins it.
    pinned = settings_of(request).hubspot_webhook_url
    if pinned:
        return pinned + (f"?{request.url.query}" if request.url.query else "")
    return str(request.url)


async def hubspot_principal(
    request: Request,
    x_hubspot_signature_v3: Annotated[str | None, Header(alias="X-HubSpot-Signature-v3")] = None,
    x_hubspot_request_timestamp: Annotated[str | None, Header(alias="X-HubSpot-Request-Timestamp")] = None,
) -> Principal:
    """HubSpot's v3 signature: base64 HMAC-SHA256(method + uri + body + timestamp) with the app's client secret."""
    settings = settings_of(request)
    try:
        verify_hubspot_v3(
            settings.hubspot_secret,
            request.method,
            _hubspot_uri(request),
            await request.body(),
            x_hubspot_request_timestamp,
            x_hubspot_signature_v3,
            now=time.time(),
            tolerance_s=settings.signature_tolerance_s,
        )
    except SignatureError as exc:
        raise _signature_failed("hubspot", exc) from None
    principal = Principal("hubspot", "signed:hubspot")
    limit(request, principal)
    return principal


async def _json(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise HTTPException(
            422, {"error": "validation_failed", "errors": [{"path": "body", "reason": "not valid JSON"}]}
        ) from None


async def _answer(
    request: Request, vendor: str, events: list[tuple[str, LeadEvent]], skipped: list[tuple[str, str]], now: datetime
) -> JSONResponse:
    intake = state_of(request).intake
    repeats = await guarded(request, lambda: intake.accept([e for _, e in events], None, now))
    metrics.VENDOR_ITEMS.labels(vendor, "accepted").inc(len(events))
    metrics.VENDOR_ITEMS.labels(vendor, "skipped").inc(len(skipped))
    body = VendorResponse(
        accepted=len({e.event_id for _, e in events} - repeats),
        duplicates=len(repeats),
        results=[VendorItemResult(ref=ref, event_id=e.event_id, lead_id=e.lead_id) for ref, e in events],
        skipped=[SkippedItem(ref=ref, reason=reason) for ref, reason in skipped],
    )
    # 202 even when every item was skipped: the vendor must not retry a delivery that can never say more.
    return JSONResponse(status_code=202, content=body.model_dump(mode="json"))


_MAUTIC_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "Mautic's delivery: event type → list of items, plus its timestamp",
                "additionalProperties": True,
            },
            "example": {
                "mautic.email_on_open": [
                    {"stat": {"emailAddress": "a@example.com"}, "timestamp": "2026-11-23T10:00:00+09:00"}
                ]
            },
        }
    },
}


@router.post(
    "/mautic",
    status_code=202,
    response_model=VendorResponse,
    responses=_ERRORS,
    openapi_extra={"requestBody": _MAUTIC_BODY},
)
async def post_mautic(request: Request, _: Annotated[Principal, Depends(mautic_principal)]) -> JSONResponse:
    """A Mautic webhook delivery: form submits, email opens, page hits (email clicks), unsubscribes, bounces."""
    payload = await _json(request)
    if not isinstance(payload, dict):
        raise HTTPException(
            422,
            {"error": "validation_failed", "errors": [{"path": "body", "reason": "a JSON object keyed by event type"}]},
        )
    settings = settings_of(request)
    now = datetime.now(UTC)
    translation = mautic.translate(payload, settings.mautic_form_map)
    events = [
        (
            t.ref,
            to_lead_event(
                t.channel, t.body, received_at=now, source="mautic", default_region=settings.default_phone_region
            ),
        )
        for t in translation.events
    ]
    return await _answer(request, "mautic", events, [(s.ref, s.reason) for s in translation.skipped], now)


_HUBSPOT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
            "example": [
                {
                    "eventId": 100,
                    "subscriptionId": 7,
                    "portalId": 33,
                    "appId": 1160452,
                    "occurredAt": 1763859600000,
                    "subscriptionType": "contact.propertyChange",
                    "attemptNumber": 0,
                    "objectId": 1246965,
                    "propertyName": "hs_email_last_open_date",
                    "propertyValue": "1763859600000",
                    "changeSource": "EMAIL",
                }
            ],
        }
    },
}


@router.post(
    "/hubspot",
    status_code=202,
    response_model=VendorResponse,
    responses=_ERRORS,
    openapi_extra={"requestBody": _HUBSPOT_BODY},
)
async def post_hubspot(request: Request, _: Annotated[Principal, Depends(hubspot_principal)]) -> JSONResponse:
    """A HubSpot app webhook delivery (contact.propertyChange): email opens and clicks, page views, forms."""
    payload = await _json(request)
    if not isinstance(payload, list):
        raise HTTPException(
            422, {"error": "validation_failed", "errors": [{"path": "body", "reason": "a JSON array of events"}]}
        )
    now = datetime.now(UTC)
    sessions = state_of(request).intake.sessions
    pairs = hubspot.contact_refs(payload)

    async def known() -> dict[tuple[int, int], str]:
        try:
            async with unit_of_work(sessions) as session:
                return await repository.hubspot_leads(session, pairs)
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    translation = hubspot.translate(payload, await guarded(request, known), received_at=now)
    if translation.identities:

        async def remember() -> None:
            try:
                async with unit_of_work(sessions) as session:
                    await repository.remember_hubspot_leads(session, translation.identities, now)
            except Exception as exc:
                raise StoreUnavailable(type(exc).__name__) from exc

        await guarded(request, remember)
    events = [
        (
            e.ref,
            known_lead_event(
                channel=e.channel,
                kind=e.kind,
                lead_id=e.lead_id,
                email=e.email,
                sender_id=e.event_id,
                occurred_at=e.occurred_at,
                received_at=now,
                source="hubspot",
                details=e.details,
            ),
        )
        for e in translation.events
    ]
    return await _answer(request, "hubspot", events, translation.skipped, now)
