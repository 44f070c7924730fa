"""HubSpot app webhooks (``contact.*`` subscriptions, signature v3) → LeadFlow events.

A delivery is a JSON array of up to 100 events. They name a contact by ``objectId`` only, never by email, so
ingest learns who a contact is from a ``contact.propertyChange`` of ``email`` (subscribe to it) and keeps the
contact's opaque ``lead_id``. The activity properties below then become LeadFlow events for that lead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.ingest.adapters.mautic import form_kind
from shared.events import FORM_KINDS, Channel, EventKind
from shared.normalize import email_domain, lead_id_for, normalize_email


@dataclass(frozen=True)
class HubspotEvent:
    """One HubSpot event that is a LeadFlow event of a known contact."""

    ref: str
    event_id: str
    lead_id: str
    email: str | None  # only when the same delivery told it: kept in the event's person, never stored here
    channel: Channel
    kind: EventKind
    occurred_at: datetime
    details: dict[str, Any]


@dataclass
class HubspotTranslation:
    events: list[HubspotEvent] = field(default_factory=list)
    identities: dict[tuple[int, int], str] = field(default_factory=dict)  # (portal, object) → lead_id learned
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (ref, reason)


def _activity(prop: str, value: Any) -> tuple[Channel, EventKind, dict[str, Any]] | str:
    """What a changed contact property says the person did."""
    text = str(value) if value is not None else ""
    if prop == "hs_email_last_open_date":
        return Channel.BEHAVIOR, EventKind.EMAIL_OPEN, {}
    if prop == "hs_email_last_click_date":
        return Channel.BEHAVIOR, EventKind.EMAIL_CLICK, {}
    if prop == "hs_analytics_last_url" and text:
        return Channel.BEHAVIOR, EventKind.PAGE_VIEW, {"url": text[:2000]}
    if prop == "hs_email_optout" and text.lower() == "true":
        return Channel.BEHAVIOR, EventKind.UNSUBSCRIBE, {}
    if prop == "hs_email_hard_bounce_reason_enum" and text:
        return Channel.BEHAVIOR, EventKind.BOUNCE, {"bounce_type": "hard"}
    if prop == "recent_conversion_event_name" and text:
        kind = form_kind(None, text, {})
        return Channel.WEB_FORM, FORM_KINDS[kind], {"form": kind, "hubspot_form": text[:500]}
    return f"property {prop!r} is not an activity LeadFlow reads"


_MAX_ID = 2**63  # HubSpot ids are 64-bit; anything larger is not an id and must not reach the database


def _int(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _MAX_ID
    return value if ok else None


def contact_refs(payload: Any) -> list[tuple[int, int]]:
    """(portal id, object id) of every event in a delivery, to look up contacts seen before."""
    if not isinstance(payload, list):
        return []
    refs = [(_int(i.get("portalId")), _int(i.get("objectId"))) for i in payload if isinstance(i, dict)]
    return [(p, o) for p, o in refs if p is not None and o is not None]


def _when(occurred_ms: Any, default: datetime) -> datetime:
    ms = _int(occurred_ms)
    if ms is None or ms <= 0:
        return default
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):  # a timestamp no calendar holds: use the receipt time
        return default


def translate(payload: Any, known: Mapping[tuple[int, int], str], *, received_at: datetime) -> HubspotTranslation:
    """Every event of one delivery: learned identities, LeadFlow events, and what was skipped and why."""
    out = HubspotTranslation()
    if not isinstance(payload, list):
        out.skipped.append(("body", "a HubSpot delivery is a JSON array of events"))
        return out
    items = [(f"{i}", item) for i, item in enumerate(payload) if isinstance(item, dict)]
    out.skipped += [
        (f"{i}", "an event is a JSON object") for i, item in enumerate(payload) if not isinstance(item, dict)
    ]
    emails: dict[tuple[int, int], str] = {}
    # Identities first: an email change in the same delivery names the contact of its other events.
    for _, item in items:
        portal, obj = _int(item.get("portalId")), _int(item.get("objectId"))
        if (
            item.get("subscriptionType") == "contact.propertyChange"
            and item.get("propertyName") == "email"
            and isinstance(item.get("propertyValue"), str)
            and portal is not None
            and obj is not None
        ):
            email = normalize_email(item["propertyValue"])
            if "@" in email and email_domain(email):
                emails[(portal, obj)] = email
                out.identities[(portal, obj)] = lead_id_for(email)
    for ref, item in items:
        portal, obj, event_id = _int(item.get("portalId")), _int(item.get("objectId")), _int(item.get("eventId"))
        kind_of = item.get("subscriptionType")
        if portal is None or obj is None or event_id is None:
            out.skipped.append((ref, "portalId, objectId and eventId are required integers"))
            continue
        if kind_of != "contact.propertyChange":
            out.skipped.append((ref, f"{kind_of!r} is not an activity; subscribe to contact.propertyChange"))
            continue
        prop = str(item.get("propertyName") or "")
        if prop == "email":
            out.skipped.append((ref, "identity recorded"))
            continue
        activity = _activity(prop, item.get("propertyValue"))
        if isinstance(activity, str):
            out.skipped.append((ref, activity))
            continue
        lead_id = out.identities.get((portal, obj)) or known.get((portal, obj))
        if lead_id is None:
            out.skipped.append((ref, "unknown contact: subscribe to contact.propertyChange of email first"))
            continue
        occurred_at = _when(item.get("occurredAt"), received_at)
        channel, kind, details = activity
        out.events.append(
            HubspotEvent(
                ref=ref,
                event_id=f"hubspot:{portal}:{event_id}",
                lead_id=lead_id,
                email=emails.get((portal, obj)),
                channel=channel,
                kind=kind,
                occurred_at=occurred_at,
                details=details,
            )
        )
    return out
