"""The seminar attendee's thank-you email: sent for the owner when routing asks for a seminar follow-up.

Pure. The router signals the follow-up with a decision of SLA kind ``seminar_follow_up`` (its routing config
decides which seminars get one); the notifier then thanks the attendee at once, in their language, with the
material link, replying to the owner. People who unsubscribed or bounced are never written to.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notifier.domain import EmailMessage, Locale, clean_line, templates
from shared.events import EventKind, RoutingDecision, SlaKind

# Consent and deliverability: a person who opted out or whose address bounced gets no marketing mail.
_NO_MAIL_KINDS = frozenset({EventKind.UNSUBSCRIBE, EventKind.BOUNCE})


@dataclass(frozen=True)
class _ThankYou:
    locale: Locale
    name: str
    company: str | None
    seminar: str | None
    material_url: str | None
    rep: str


_SUBJECTS: dict[Locale, tuple[str, str]] = {
    "en": ("Thank you for joining {seminar}", "Thank you for joining our seminar"),
    "ja": ("「{seminar}」ご参加のお礼", "セミナーご参加のお礼"),
}


def wants_thank_you(decision: RoutingDecision) -> bool:
    """A seminar follow-up decision for a person we may write to."""
    if decision.sla_kind != SlaKind.SEMINAR_FOLLOW_UP or decision.owner is None:
        return False
    lead = decision.lead
    if lead.person is None or not lead.person.email:
        return False
    kinds = {lead.trigger.kind, *(a.kind for a in lead.recent_activity)}
    return not (kinds & _NO_MAIL_KINDS)


def attendee_locale(country: str | None) -> Locale:
    """The attendee's language: Japanese for Japan, English otherwise."""
    return "ja" if (country or "").upper() == "JP" else "en"


def render_thank_you(decision: RoutingDecision, *, material_url: str | None) -> EmailMessage:
    """The thank-you email to the attendee, from the owner; raises ValueError when it should not be sent."""
    if not wants_thank_you(decision) or decision.owner is None or decision.lead.person is None:
        raise ValueError(f"decision {decision.decision_id} asks for no seminar thank-you")
    person = decision.lead.person
    owner = decision.owner
    seminar = decision.lead.trigger.details.get("webinar")
    view = _ThankYou(
        locale=attendee_locale(person.country),
        name=clean_line(person.name or "", 120),
        company=clean_line(person.company, 120) if person.company else None,
        seminar=clean_line(seminar, 200) if isinstance(seminar, str) and seminar.strip() else None,
        material_url=material_url,
        rep=clean_line(owner.name, 120),
    )
    with_name, without = _SUBJECTS[view.locale]
    subject = with_name.format(seminar=view.seminar) if view.seminar else without
    env = templates()
    context = {"t": view}
    return EmailMessage(
        to=person.email,
        subject=clean_line(subject),
        text=env.get_template("thank_you.txt.j2").render(context),
        html=env.get_template("thank_you.html.j2").render(context),
        reply_to=owner.email,
    )
