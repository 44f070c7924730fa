"""Pure normalization: a channel's request body becomes one clean ``LeadEvent``."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson

from services.ingest.schemas import BehaviorEvent, FeedbackEvent, FormEvent, TradeshowEvent, WebinarEvent
from shared.events import FORM_KINDS, Channel, EventKind, LeadEvent, Person, Seniority
from shared.normalize import clean_text, company_key, email_domain, lead_id_for, normalize_phone, seniority_for

WEBINAR_KINDS = {
    "registered": EventKind.WEBINAR_REGISTERED,
    "attended": EventKind.WEBINAR_ATTENDED,
    "no_show": EventKind.WEBINAR_NO_SHOW,
    "question": EventKind.WEBINAR_QUESTION,
    "consultation_request": EventKind.CONSULTATION_REQUEST,
}
FEEDBACK_KINDS = {
    "accepted": EventKind.SALES_ACCEPTED,
    "rejected": EventKind.SALES_REJECTED,
    "contacted": EventKind.SALES_CONTACTED,
    "bant": EventKind.SALES_BANT,
    "meeting": EventKind.SALES_MEETING,
    "won": EventKind.SALES_WON,
    "lost": EventKind.SALES_LOST,
}
IncomingBody = FormEvent | WebinarEvent | TradeshowEvent | BehaviorEvent | FeedbackEvent


def derive_event_id(channel: Channel, lead_id: str, body: IncomingBody, received_at: datetime) -> str:
    """The sender's id when given; else a hash of the body, so the same post sent twice is applied once.

    A sender's id is scoped to the channel and the lead: two sources counting from 1 must not collide.
    Without ``occurred_at`` the receipt day joins the body hash: a retry the same day is a duplicate, a new
    submission on another day is not.
    """
    if body.event_id:
        return scoped_event_id(channel, lead_id, body.event_id)
    canonical = body.model_dump(mode="json", exclude_none=True, exclude={"event_id"})
    if body.occurred_at is None:
        canonical["_received_day"] = received_at.date().isoformat()
    digest = hashlib.sha256(channel.value.encode() + orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"ev_{digest[:32]}"


def build_person(body: FormEvent | WebinarEvent | TradeshowEvent, default_region: str) -> Person:
    """Normalize a person's attributes: NFKC text, E.164 phone, company key, seniority from the title."""
    domain = email_domain(body.email)
    company = clean_text(body.company)
    title = clean_text(body.title)
    return Person(
        email=body.email,
        email_domain=domain,
        name=clean_text(body.name),
        company=company,
        company_key=company_key(company, domain),
        title=title,
        seniority=Seniority(seniority_for(title)),
        phone=normalize_phone(body.phone, default_region),
        industry=clean_text(body.industry),
        employees=body.employees,
        country=(clean_text(body.country) or "").upper() or None,
    )


def _details(body: IncomingBody, *fields: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(body, name)
        if isinstance(value, str):
            value = clean_text(value)
        if value is not None:
            out[name] = value
    return out


def to_lead_event(
    channel: Channel, body: IncomingBody, *, received_at: datetime, source: str, default_region: str = "JP"
) -> LeadEvent:
    """One request body → one normalized event."""
    person: Person | None = None
    details: dict[str, Any]
    if isinstance(body, FormEvent):
        kind = FORM_KINDS[body.form]
        person = build_person(body, default_region)
        details = {"form": body.form, **_details(body, "message")}
    elif isinstance(body, WebinarEvent):
        kind = WEBINAR_KINDS[body.action]
        person = build_person(body, default_region)
        details = _details(body, "webinar", "minutes", "question")
    elif isinstance(body, TradeshowEvent):
        kind = EventKind.BADGE_SCAN
        person = build_person(body, default_region)
        details = _details(body, "show", "rating", "notes")
    elif isinstance(body, BehaviorEvent):
        kind = EventKind(body.type)
        person = Person(email=body.email, email_domain=email_domain(body.email))
        details = _details(body, "url", "bounce_type")
    else:
        kind = FEEDBACK_KINDS[body.action]
        if body.email:
            person = Person(email=body.email, email_domain=email_domain(body.email))
        details = _details(body, "rep", "reason")
        if body.bant is not None:
            details["bant"] = body.bant.model_dump()
    lead_id = body.lead_id if isinstance(body, FeedbackEvent) and body.lead_id else lead_id_for(body.email or "")
    return LeadEvent(
        event_id=derive_event_id(channel, lead_id, body, received_at),
        lead_id=lead_id,
        channel=channel,
        kind=kind,
        occurred_at=body.occurred_at or received_at,
        received_at=received_at,
        source=source,
        person=person,
        details=details,
    )


def scoped_event_id(channel: Channel, lead_id: str, sender_id: str) -> str:
    """A sender's own id, scoped to the channel and the lead (two sources counting from 1 must not collide)."""
    scoped = "|".join((channel.value, lead_id, sender_id))
    return f"ext_{hashlib.sha256(scoped.encode()).hexdigest()[:32]}"


def known_lead_event(
    *,
    channel: Channel,
    kind: EventKind,
    lead_id: str,
    email: str | None,
    sender_id: str,
    occurred_at: datetime,
    received_at: datetime,
    source: str,
    details: dict[str, Any],
) -> LeadEvent:
    """An event of a lead known by id (a vendor's contact id resolved to it), with its email when given."""
    person = Person(email=email, email_domain=email_domain(email)) if email else None
    return LeadEvent(
        event_id=scoped_event_id(channel, lead_id, sender_id),
        lead_id=lead_id,
        channel=channel,
        kind=kind,
        occurred_at=occurred_at,
        received_at=received_at,
        source=source,
        person=person,
        details=details,
    )
