"""Turn the router's SLA clock into messages: a reminder to the owner, an escalation to the manager.

Pure, like :mod:`services.notifier.domain`: values in (the SLA event, ``now``), messages out. A reminder
carries the same Accept / Reject / Log contact buttons as the first alert, so the rep can act on it; an
escalation names the lead, the rep and how late it is, for a manager (and optionally a team channel).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.notifier.domain import (
    EmailMessage,
    LeadFacts,
    Locale,
    NoRecipientError,
    SlackMessage,
    clean_line,
    context_block,
    escape_mrkdwn,
    format_duration,
    format_when,
    header_block,
    lead_facts,
    mrkdwn_fields,
    mrkdwn_section,
    owner_buttons,
    sla_line,
    templates,
)
from shared.events import RepRef, SlaEvent


@dataclass(frozen=True)
class _SlaLabels:
    reminder_header: str
    reminder_greeting: str
    reminder_subject: str
    escalation_header: str
    escalation_body: str
    escalation_unowned: str
    escalation_subject: str
    attempts: str
    footer: str
    nobody: str


_EN = _SlaLabels(
    reminder_header="⏰ Reminder · rank {rank} lead waiting for you",
    reminder_greeting="Hi {name}, {person} ({company}) has not been contacted yet.",
    reminder_subject="[Reminder · Rank {rank}] {person}, {company} — act by {due}",
    escalation_header="🚨 SLA missed · rank {rank} lead",
    escalation_body="{rep} has not contacted {person} ({company}). It was due by {due}: {late} late.",
    escalation_unowned="Nobody has contacted {person} ({company}). It was due by {due}: {late} late.",
    escalation_subject="[SLA missed · Rank {rank}] {person}, {company} — {rep}, {late} late",
    attempts="Contact attempts logged: {n}",
    footer="Lead {lead_id} · Decision {decision_id}",
    nobody="(unassigned)",
)

_JA = _SlaLabels(
    reminder_header="⏰ リマインダー · 対応待ちの{rank}ランクのリード",
    reminder_greeting="{name}さん、{person}（{company}）にまだ連絡していません。",
    reminder_subject="【リマインダー・{rank}ランク】{person}（{company}）— {due}までに対応",
    escalation_header="🚨 SLA超過 · {rank}ランクのリード",
    escalation_body="{rep}さんが{person}（{company}）にまだ連絡していません。期限 {due} から{late}超過しています。",
    escalation_unowned="{person}（{company}）に誰も連絡していません。期限 {due} から{late}超過しています。",
    escalation_subject="【SLA超過・{rank}ランク】{person}（{company}）— {rep}さん、{late}超過",
    attempts="記録された連絡の試行: {n}回",
    footer="リード {lead_id} · 判定 {decision_id}",
    nobody="（未割り当て）",
)

_LABELS: Mapping[Locale, _SlaLabels] = {"en": _EN, "ja": _JA}


@dataclass(frozen=True)
class _Alert:
    """One SLA message's words for one reader; plain text, escaped per medium when rendered."""

    locale: Locale
    header: str
    intro: str | None
    emphasis: str
    notes: tuple[str, ...]
    facts: LeadFacts
    footer: str
    subject: str


def render_slack_reminder(event: SlaEvent, *, now: datetime) -> SlackMessage:
    """The owner's reminder before the window closes, with the buttons to act on it."""
    owner = _owner(event, "slack")
    alert = _reminder(event, owner, now)
    blocks = [
        *_blocks(alert),
        owner_buttons(event.decision_id, event.lead_id, rep_id=owner.rep_id, locale=alert.locale),
    ]
    return SlackMessage(channel=owner.slack_id, text=_fallback_text(alert), blocks=blocks)


def render_email_reminder(event: SlaEvent, *, now: datetime) -> EmailMessage:
    """The owner's reminder by email: the same words, as text and HTML."""
    owner = _owner(event, "email")
    return _email(owner.email, _reminder(event, owner, now))


def render_slack_escalation(event: SlaEvent, *, now: datetime, channel: str | None = None) -> SlackMessage:
    """The manager's (or, with ``channel``, the team channel's) notice that the window closed without contact."""
    reader = event.escalate_to
    target = channel or (reader.slack_id if reader is not None else None)
    if not target:
        raise NoRecipientError(event.decision_id, "slack")
    alert = _escalation(event, reader, now)
    return SlackMessage(channel=target, text=_fallback_text(alert), blocks=_blocks(alert))


def render_email_escalation(event: SlaEvent, *, now: datetime) -> EmailMessage:
    """The manager's escalation by email."""
    reader = event.escalate_to
    if reader is None or not reader.email:
        raise NoRecipientError(event.decision_id, "email")
    return _email(reader.email, _escalation(event, reader, now))


def lateness(event: SlaEvent, now: datetime) -> timedelta:
    """How late the lead is: from the deadline to now, never less than the router measured when it fired."""
    measured = timedelta(seconds=event.late_by_seconds or 0)
    return max(now - event.due_at, measured, timedelta(0))


def _owner(event: SlaEvent, medium: str) -> RepRef:
    if event.owner is None:
        raise NoRecipientError(event.decision_id, medium)
    return event.owner


def _reminder(event: SlaEvent, owner: RepRef, now: datetime) -> _Alert:
    locale: Locale = owner.locale
    labels = _LABELS[locale]
    facts = lead_facts(event.lead, timezone=owner.timezone, locale=locale)
    deadline = sla_line(event.sla_kind, event.due_at, now=now, timezone=owner.timezone, locale=locale)
    rank = event.lead.rank.value
    greeting = labels.reminder_greeting.format(
        name=clean_line(owner.name), person=facts.person_name, company=facts.company_name
    )
    return _Alert(
        locale=locale,
        header=labels.reminder_header.format(rank=rank),
        intro=greeting,
        emphasis=deadline,
        notes=(labels.attempts.format(n=event.follow_up_attempts),),
        facts=facts,
        footer=labels.footer.format(lead_id=event.lead_id, decision_id=event.decision_id),
        subject=labels.reminder_subject.format(
            rank=rank,
            person=facts.person_name,
            company=facts.company_name,
            due=format_when(event.due_at, timezone=owner.timezone, locale=locale),
        ),
    )


def _escalation(event: SlaEvent, reader: RepRef | None, now: datetime) -> _Alert:
    # A team channel without a named manager still gets the facts, in English and UTC.
    locale: Locale = reader.locale if reader is not None else "en"
    timezone = reader.timezone if reader is not None else "UTC"
    labels = _LABELS[locale]
    facts = lead_facts(event.lead, timezone=timezone, locale=locale)
    # Whole minutes, rounded down: "10 minutes late" when 10m20s have passed, never more than is true.
    late_minutes = max(1, int(lateness(event, now).total_seconds() // 60))
    late = format_duration(timedelta(minutes=late_minutes), locale=locale)
    due = format_when(event.due_at, timezone=timezone, locale=locale)
    rep = clean_line(event.owner.name) if event.owner is not None else labels.nobody
    body = labels.escalation_body if event.owner is not None else labels.escalation_unowned
    rank = event.lead.rank.value
    return _Alert(
        locale=locale,
        header=labels.escalation_header.format(rank=rank),
        intro=None,
        emphasis=body.format(rep=rep, person=facts.person_name, company=facts.company_name, due=due, late=late),
        notes=(labels.attempts.format(n=event.follow_up_attempts),),
        facts=facts,
        footer=labels.footer.format(lead_id=event.lead_id, decision_id=event.decision_id),
        subject=labels.escalation_subject.format(
            rank=rank, person=facts.person_name, company=facts.company_name, rep=rep, late=late
        ),
    )


def _blocks(alert: _Alert) -> list[dict[str, Any]]:
    lines = [escape_mrkdwn(alert.intro)] if alert.intro else []
    lines.append(f"*{escape_mrkdwn(alert.emphasis)}*")
    lines.extend(escape_mrkdwn(note) for note in alert.notes)
    return [
        header_block(alert.header),
        mrkdwn_section("\n".join(lines)),
        mrkdwn_fields(*(f"*{escape_mrkdwn(label)}*\n{escape_mrkdwn(value)}" for label, value in alert.facts.rows)),
        context_block(escape_mrkdwn(clean_line(alert.footer))),
    ]


def _fallback_text(alert: _Alert) -> str:
    # What the notification banner shows: the header and the line that names the lead.
    return escape_mrkdwn(f"{alert.header}: {alert.intro or alert.emphasis}")


def _email(to: str, alert: _Alert) -> EmailMessage:
    env = templates()
    context = {"a": alert}
    return EmailMessage(
        to=to,
        subject=clean_line(alert.subject),
        text=env.get_template("sla_alert.txt.j2").render(context),
        html=env.get_template("sla_alert.html.j2").render(context),
    )
