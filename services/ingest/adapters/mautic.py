"""Mautic webhooks → LeadFlow bodies.

One delivery is ``{"mautic.<event type>": [item, …], …, "timestamp": "…"}`` (items grouped by type when Mautic
queues them). Items carry no id of their own, so each gets one derived from its content: a redelivery of the
same item maps to the same event. Shapes follow Mautic's developer documentation (webhooks/events) and the
``stat`` object Mautic really sends for ``mautic.email_on_open``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from services.ingest.adapters import Skipped, Translated, Translation, content_id, validation_reason
from services.ingest.schemas import BehaviorEvent, FormEvent
from shared.events import Channel

# Types LeadFlow reads nothing from, with the reason a sender sees. Mautic's own points are not imported:
# LeadFlow scores from the actions themselves, so counting Mautic's points too would score them twice.
IGNORED = {
    "mautic.lead_points_change": "Mautic's points are not imported; LeadFlow scores the actions themselves",
    "mautic.lead_post_save_new": "a new contact is not an action; its form, visit or email events are",
    "mautic.lead_post_save_update": "a contact update is not an action",
    "mautic.lead_post_delete": "deletions are not events",
    "mautic.email_on_send": "a sent email is not the lead's action; opens and clicks are",
}
# Form kinds guessed from a Mautic form's alias or name when MAUTIC_FORM_KINDS does not list it.
_FORM_HINTS = (
    ("demo", "demo_request"),
    ("pricing", "pricing"),
    ("price", "pricing"),
    ("見積", "pricing"),
    ("料金", "pricing"),
    ("document", "document_request"),
    ("download", "document_request"),
    ("brochure", "document_request"),
    ("資料", "document_request"),
    ("newsletter", "newsletter"),
    ("subscribe", "newsletter"),
    ("メルマガ", "newsletter"),
)
_FORM_KINDS = {"demo_request", "contact", "document_request", "pricing", "newsletter"}


def form_kind(alias: str | None, name: str | None, mapping: Mapping[str, str]) -> str:
    """LeadFlow's form kind for a Mautic form: the configured mapping first, else a hint in its name."""
    for candidate in (alias, name):
        if candidate and (kind := mapping.get(candidate.lower())) in _FORM_KINDS:
            return kind
    text = f"{alias or ''} {name or ''}".lower()
    return next((kind for hint, kind in _FORM_HINTS if hint in text), "contact")


def contact_fields(contact: Any) -> dict[str, Any]:
    """A Mautic contact's field values by alias: ``fields.all`` when sent, else the groups' ``value``s."""
    if not isinstance(contact, dict):
        return {}
    fields = contact.get("fields")
    if not isinstance(fields, dict):
        return {}
    flat = fields.get("all")
    if isinstance(flat, dict):
        return {k: v for k, v in flat.items() if v not in (None, "")}
    out: dict[str, Any] = {}
    for group in fields.values():
        if isinstance(group, dict):
            for alias, field in group.items():
                if isinstance(field, dict) and field.get("value") not in (None, ""):
                    out[alias] = field["value"]
    return out


def _person(values: Mapping[str, Any]) -> dict[str, Any]:
    name = " ".join(str(values[k]) for k in ("firstname", "lastname") if values.get(k)) or None
    return {
        k: v
        for k, v in {
            "email": values.get("email"),
            "name": name,
            "company": values.get("company"),
            "title": values.get("position") or values.get("title"),
            "phone": values.get("phone") or values.get("mobile"),
            "country": values.get("country"),
        }.items()
        if v not in (None, "")
    }


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _form(item: dict[str, Any], event_id: str, kinds: Mapping[str, str]) -> tuple[Channel, Any]:
    submission = _obj(item.get("submission"))
    form = _obj(submission.get("form"))
    results = _obj(submission.get("results"))
    # What the visitor typed wins over the stored contact: it is what this submission said.
    values = {**contact_fields(submission.get("lead")), **{k: v for k, v in results.items() if v not in (None, "")}}
    body = {
        **_person(values),
        "form": form_kind(_str(form.get("alias")), _str(form.get("name")), kinds),
        "occurred_at": _str(submission.get("dateSubmitted")) or _str(item.get("timestamp")),
        "event_id": event_id,
    }
    if isinstance(values.get("message"), str):
        body["message"] = values["message"]
    return Channel.WEB_FORM, FormEvent.model_validate(body)


def _email_open(item: dict[str, Any], event_id: str) -> tuple[Channel, Any]:
    stat = _obj(item.get("stat"))
    values = contact_fields(stat.get("lead") or item.get("contact") or item.get("lead"))
    email = _str(stat.get("emailAddress")) or values.get("email")
    when = _str(stat.get("dateRead")) or _str(item.get("timestamp"))
    body = {"email": email, "type": "email_open", "occurred_at": when, "event_id": event_id}
    return Channel.BEHAVIOR, BehaviorEvent.model_validate(body)


def _page_hit(item: dict[str, Any], event_id: str) -> tuple[Channel, Any]:
    hit = _obj(item.get("hit"))
    values = contact_fields(hit.get("lead"))
    # Mautic records a click on a tracked email link as a page hit whose source is that email.
    kind = "email_click" if hit.get("source") == "email" else "page_view"
    body = {
        "email": values.get("email"),
        "type": kind,
        "url": _str(hit.get("url")),
        "occurred_at": _str(hit.get("dateHit")) or _str(item.get("timestamp")),
        "event_id": event_id,
    }
    return Channel.BEHAVIOR, BehaviorEvent.model_validate(body)


def _subscription(item: dict[str, Any], event_id: str) -> tuple[Channel, Any] | str:
    if item.get("channel") != "email":
        return "only the email channel's subscription changes are events"
    status = item.get("new_status")
    if status not in ("unsubscribed", "bounced"):
        return f"subscription status {status!r} is not an event"
    values = contact_fields(item.get("contact"))
    body: dict[str, Any] = {
        "email": values.get("email"),
        "type": "unsubscribe" if status == "unsubscribed" else "bounce",
        "occurred_at": _str(item.get("timestamp")),
        "event_id": event_id,
    }
    if status == "bounced":
        body["bounce_type"] = "hard"  # Mautic marks a contact bounced only on a hard bounce
    return Channel.BEHAVIOR, BehaviorEvent.model_validate(body)


def translate(payload: Any, form_kinds: Mapping[str, str] | None = None) -> Translation:
    """Every item of one Mautic delivery, as LeadFlow bodies or skipped with a reason."""
    out = Translation()
    if not isinstance(payload, dict):
        out.skipped.append(Skipped("body", "a Mautic delivery is a JSON object keyed by event type"))
        return out
    kinds = form_kinds or {}
    for event_type, items in payload.items():
        if not event_type.startswith("mautic."):
            continue  # the delivery's own "timestamp"
        entries = items if isinstance(items, list) else [items]
        for index, item in enumerate(entries):
            ref = f"{event_type}/{index}"
            if event_type in IGNORED:
                out.skipped.append(Skipped(ref, IGNORED[event_type]))
                continue
            if not isinstance(item, dict):
                out.skipped.append(Skipped(ref, "an event is a JSON object"))
                continue
            event_id = content_id("mautic", event_type, item)
            try:
                if event_type == "mautic.form_on_submit":
                    made: tuple[Channel, Any] | str = _form(item, event_id, kinds)
                elif event_type == "mautic.email_on_open":
                    made = _email_open(item, event_id)
                elif event_type == "mautic.page_on_hit":
                    made = _page_hit(item, event_id)
                elif event_type == "mautic.lead_channel_subscription_changed":
                    made = _subscription(item, event_id)
                else:
                    made = "not an event type LeadFlow reads"
            except ValidationError as exc:
                made = validation_reason(exc)
            if isinstance(made, str):
                out.skipped.append(Skipped(ref, made))
            else:
                out.events.append(Translated(ref, made[0], made[1]))
    return out


__all__ = ["IGNORED", "contact_fields", "form_kind", "translate"]
