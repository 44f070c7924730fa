"""Turn a routing decision into the Slack message and the email its owner receives.

Pure: every function takes values (the decision, ``now``, an optional console URL) and returns values.
Both renderings are built from one view of the facts (``_View``), so Slack and email never disagree.

Slack button values are compact JSON, ``{"decision_id":"…","lead_id":"…"}``; the interaction handler
reads them back with :func:`parse_action_value`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from shared.events import (
    Activity,
    Bant,
    DecisionKind,
    EventKind,
    LeadScored,
    Person,
    Rank,
    RoutingDecision,
    ScoreReason,
    SlaKind,
)

Locale = Literal["en", "ja"]

ACTION_ACCEPT = "lead_accept"
ACTION_REJECT = "lead_reject"
ACTION_CONTACTED = "lead_contacted"
ACTIONS_BLOCK_ID = "lead_actions"

# Slack's documented limits; the renderer stays under them whatever the lead's data looks like.
SLACK_MAX_BLOCKS = 50
SLACK_HEADER_MAX = 150
SLACK_SECTION_TEXT_MAX = 3000
SLACK_FIELD_TEXT_MAX = 2000

# Per-value caps keep one absurd name or note from pushing a block over Slack's limits.
_NAME_MAX = 120
_LINE_MAX = 300
_TOP_REASONS = 3
_RECENT_ACTIVITY_MAX = 5

EVENT_KIND_LABELS: Mapping[EventKind, Mapping[Locale, str]] = {
    EventKind.DEMO_REQUEST: {"en": "Demo request", "ja": "デモ依頼"},
    EventKind.CONTACT: {"en": "Contact form inquiry", "ja": "お問い合わせ"},
    EventKind.DOCUMENT_REQUEST: {"en": "Document request", "ja": "資料請求"},
    EventKind.PRICING_INQUIRY: {"en": "Pricing inquiry", "ja": "料金のお問い合わせ"},
    EventKind.NEWSLETTER_SIGNUP: {"en": "Newsletter signup", "ja": "メルマガ登録"},
    EventKind.WEBINAR_REGISTERED: {"en": "Webinar registration", "ja": "ウェビナー申込"},
    EventKind.WEBINAR_ATTENDED: {"en": "Webinar attended", "ja": "ウェビナー参加"},
    EventKind.WEBINAR_NO_SHOW: {"en": "Webinar no-show", "ja": "ウェビナー欠席"},
    EventKind.WEBINAR_QUESTION: {"en": "Question at a webinar", "ja": "ウェビナーでの質問"},
    EventKind.CONSULTATION_REQUEST: {"en": "1:1 consultation request", "ja": "個別相談の依頼"},
    EventKind.BADGE_SCAN: {"en": "Trade-show badge scan", "ja": "展示会での名刺交換"},
    EventKind.EMAIL_OPEN: {"en": "Email opened", "ja": "メール開封"},
    EventKind.EMAIL_CLICK: {"en": "Email link clicked", "ja": "メール内リンクのクリック"},
    EventKind.PAGE_VIEW: {"en": "Page view", "ja": "ページ閲覧"},
    EventKind.WHITEPAPER_DOWNLOAD: {"en": "Whitepaper download", "ja": "ホワイトペーパーのダウンロード"},
    EventKind.UNSUBSCRIBE: {"en": "Unsubscribed", "ja": "配信停止"},
    EventKind.BOUNCE: {"en": "Email bounced", "ja": "メール不達"},
    EventKind.SALES_ACCEPTED: {"en": "Accepted by sales", "ja": "営業が受諾"},
    EventKind.SALES_REJECTED: {"en": "Rejected by sales", "ja": "営業が却下"},
    EventKind.SALES_CONTACTED: {"en": "Contacted by sales", "ja": "営業が連絡"},
    EventKind.SALES_BANT: {"en": "BANT facts learned", "ja": "BANT情報の確認"},
    EventKind.SALES_MEETING: {"en": "Meeting booked", "ja": "商談設定"},
    EventKind.SALES_WON: {"en": "Won", "ja": "受注"},
    EventKind.SALES_LOST: {"en": "Lost", "ja": "失注"},
}


class NoRecipientError(ValueError):
    """A decision names nobody to notify: no owner and no usable fallback queue."""

    def __init__(self, decision_id: str, medium: str) -> None:
        super().__init__(f"decision {decision_id} has no {medium} recipient")
        self.decision_id = decision_id
        self.medium = medium


@dataclass(frozen=True)
class SlackMessage:
    """A chat.postMessage payload; ``text`` is the notification fallback."""

    channel: str
    text: str
    blocks: list[dict[str, Any]]


@dataclass(frozen=True)
class EmailMessage:
    """One email, with a plain-text and an HTML body carrying the same facts."""

    to: str
    subject: str
    text: str
    html: str
    reply_to: str | None = None


@dataclass(frozen=True)
class ActionValue:
    """What a Slack button carries back to the interaction handler."""

    decision_id: str
    lead_id: str
    rep_id: str | None = None
    locale: Locale = "en"


@dataclass(frozen=True)
class _Labels:
    """Every fixed word of a message in one language; placeholders are ``str.format`` fields."""

    header: str
    header_fallback: str
    greeting: str
    greeting_reassigned: str
    greeting_fallback: str
    nobody_eligible: str
    who: str
    company: str
    score: str
    score_line: str
    reasons: str
    activity: str
    bant: str
    bant_none: str
    bant_names: tuple[str, str, str, str]
    routing: str
    routing_fallback: str
    list_separator: str
    employees: str
    unknown_person: str
    unknown_company: str
    trigger_line: str
    footer: str
    footer_team: str
    footer_model: str
    open_console: str
    subject: str
    subject_fallback: str
    accept: str
    take: str
    reject: str
    contacted: str
    weekdays: tuple[str, str, str, str, str, str, str]
    # (within the window, after it closed) per SLA kind
    sla: Mapping[SlaKind, tuple[str, str]]
    day: tuple[str, str]
    hour: tuple[str, str]
    minute: tuple[str, str]
    duration_separator: str


_EN = _Labels(
    header="{icon} Rank {rank} lead · {total} points",
    header_fallback="📥 Unassigned rank {rank} lead · {total} points",
    greeting="Hi {name}, a lead was routed to you.",
    greeting_reassigned="Hi {name}, a lead was reassigned to you because its previous window closed.",
    greeting_fallback="A lead is waiting in {queue}.",
    nobody_eligible="Nobody was eligible for this lead, so it is waiting in {queue}. Take it if you can.",
    who="Who",
    company="Company",
    score="Score",
    score_line="Rank {rank} · {total} points (fit {fit}, intent {intent})",
    reasons="Why it scored",
    activity="What they did",
    bant="BANT confirmed",
    bant_none="none confirmed yet",
    bant_names=("Budget", "Authority", "Need", "Timeline"),
    routing="Why you",
    routing_fallback="Routing",
    list_separator=", ",
    employees="{n} employees",
    unknown_person="(name not given)",
    unknown_company="(company not given)",
    trigger_line="{kind} — {when}",
    footer="Lead {lead_id} · Decision {decision_id} · Rule {rule}",
    footer_team="Team {team}",
    footer_model="Model {model}",
    open_console="Open in console",
    subject="[Rank {rank}] {trigger}: {name}, {company} — act by {due}",
    subject_fallback="[Unassigned · Rank {rank}] {trigger}: {name}, {company} — act by {due}",
    accept="Accept",
    take="Take this lead",
    reject="Reject",
    contacted="Log contact",
    weekdays=("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    sla={
        SlaKind.RANK_A: ("Call within {window} — by {due}", "Overdue — call now (was due by {due})"),
        SlaKind.MQL: (
            "Make first contact within {window} — by {due}",
            "Overdue — make first contact now (was due by {due})",
        ),
        SlaKind.SQL: (
            "Send a proposal within {window} — by {due}",
            "Overdue — send a proposal now (was due by {due})",
        ),
        SlaKind.SEMINAR_FOLLOW_UP: (
            "Send a thank-you with material within {window} — by {due}",
            "Overdue — send a thank-you with material now (was due by {due})",
        ),
    },
    day=("{n} day", "{n} days"),
    hour=("{n} hour", "{n} hours"),
    minute=("{n} minute", "{n} minutes"),
    duration_separator=" ",
)

_JA = _Labels(
    header="{icon} {rank}ランクのリード · {total}点",
    header_fallback="📥 未割り当ての{rank}ランクのリード · {total}点",
    greeting="{name}さん、リードが割り当てられました。",
    greeting_reassigned="{name}さん、前任者の対応期限が過ぎたため、リードが再割り当てされました。",
    greeting_fallback="{queue} でリードが待機しています。",
    nobody_eligible=(
        "対応できる担当者がいないため、このリードは {queue} で待機しています。対応できる方は引き受けてください。"
    ),
    who="お名前・役職",
    company="会社",
    score="スコア",
    score_line="{rank}ランク · {total}点（属性 {fit} / 行動 {intent}）",
    reasons="スコアの根拠",
    activity="行動履歴",
    bant="確認済みのBANT",
    bant_none="まだ確認されていません",
    bant_names=("予算", "決裁権", "ニーズ", "導入時期"),
    routing="割り当て理由",
    routing_fallback="振り分け結果",
    list_separator="、",
    employees="従業員{n}名",
    unknown_person="（氏名未登録）",
    unknown_company="（会社名未登録）",
    trigger_line="{kind} — {when}",
    footer="リード {lead_id} · 判定 {decision_id} · ルール {rule}",
    footer_team="チーム {team}",
    footer_model="モデル {model}",
    open_console="コンソールで開く",
    subject="【{rank}ランク】{trigger}：{name}（{company}）— {due}までに対応",
    subject_fallback="【未割り当て・{rank}ランク】{trigger}：{name}（{company}）— {due}までに対応",
    accept="受諾",
    take="このリードを引き受ける",
    reject="却下",
    contacted="連絡を記録",
    weekdays=("月", "火", "水", "木", "金", "土", "日"),
    sla={
        SlaKind.RANK_A: (
            "{window}以内に電話してください — {due}まで",
            "期限超過 — 今すぐ電話してください（期限 {due}）",
        ),
        SlaKind.MQL: (
            "{window}以内に初回連絡をしてください — {due}まで",
            "期限超過 — 今すぐ初回連絡をしてください（期限 {due}）",
        ),
        SlaKind.SQL: (
            "{window}以内に提案を送ってください — {due}まで",
            "期限超過 — 今すぐ提案を送ってください（期限 {due}）",
        ),
        SlaKind.SEMINAR_FOLLOW_UP: (
            "{window}以内にお礼と資料を送ってください — {due}まで",
            "期限超過 — 今すぐお礼と資料を送ってください（期限 {due}）",
        ),
    },
    day=("{n}日", "{n}日"),
    hour=("{n}時間", "{n}時間"),
    minute=("{n}分", "{n}分"),
    duration_separator="",
)

_LABELS: Mapping[Locale, _Labels] = {"en": _EN, "ja": _JA}
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_RANK_ICONS: Mapping[Rank, str] = {Rank.A: "🔥", Rank.B: "⭐", Rank.C: "📬"}
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class _View:
    """The facts of one decision, worded for one reader; plain text, not yet escaped for any medium."""

    locale: Locale
    labels: _Labels
    fallback: bool
    header: str
    greeting: str
    sla_line: str
    nobody_eligible: str | None
    person_name: str
    person_title: str | None
    contact: tuple[str, ...]
    company_name: str
    company_facts: str | None
    score_line: str
    reasons: tuple[str, ...]
    trigger_kind: str
    activity: tuple[str, ...]
    bant: str
    routing_label: str
    routing_reason: str
    footer: str
    console_link: str | None
    subject: str


def idempotency_key(decision_id: str, kind: str) -> str:
    """Key one notification of one decision, so a redelivered decision is not sent twice."""
    return f"{decision_id}:{kind}"


def action_value(decision_id: str, lead_id: str, *, rep_id: str | None = None, locale: Locale | None = None) -> str:
    """Encode what a Slack button carries: compact JSON with the decision and lead ids (and owner, language)."""
    data = {"decision_id": decision_id, "lead_id": lead_id}
    # The owner and language ride along so a click can be attributed and answered without a lookup.
    if rep_id is not None:
        data["rep_id"] = rep_id
    if locale is not None:
        data["locale"] = locale
    return json.dumps(data, separators=(",", ":"))


def parse_action_value(value: str) -> ActionValue:
    """Decode a Slack button value written by :func:`action_value`; raises ValueError if malformed."""
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"action value is not JSON: {value[:80]!r}") from exc
    if not isinstance(data, dict):
        raise ValueError("action value is not a JSON object")
    decision_id, lead_id = data.get("decision_id"), data.get("lead_id")
    if not isinstance(decision_id, str) or not isinstance(lead_id, str) or not decision_id or not lead_id:
        raise ValueError("action value lacks decision_id or lead_id")
    rep_id = data.get("rep_id")
    locale: Locale = "ja" if data.get("locale") == "ja" else "en"
    return ActionValue(
        decision_id=decision_id, lead_id=lead_id, rep_id=rep_id if isinstance(rep_id, str) else None, locale=locale
    )


@dataclass(frozen=True)
class LeadFacts:
    """The facts about a lead every alert repeats, worded for one reader; plain text, not yet escaped."""

    person_name: str
    person_title: str | None
    company_name: str
    company_facts: str | None
    score_line: str
    trigger_kind: str
    trigger_line: str
    bant: str
    rows: tuple[tuple[str, str], ...]


def lead_facts(lead: LeadScored, *, timezone: str, locale: Locale) -> LeadFacts:
    """Who, which company, what score and what they did, in the reader's language and time zone."""
    labels = _LABELS[locale]
    tz = _zone(timezone)
    person = lead.person
    name = (_clean(person.name, _NAME_MAX) if person and person.name else "") or labels.unknown_person
    company = (_clean(person.company, _NAME_MAX) if person and person.company else "") or labels.unknown_company
    trigger_kind = EVENT_KIND_LABELS[lead.trigger.kind][locale]
    title = _clean(person.title, _NAME_MAX) if person and person.title else None
    facts = _company_facts(person, labels)
    score = labels.score_line.format(
        rank=lead.rank.value, total=_number(lead.total), fit=_number(lead.fit), intent=_number(lead.intent)
    )
    trigger = labels.trigger_line.format(kind=trigger_kind, when=_format_when(lead.trigger.occurred_at, tz, locale))
    bant = _bant(lead.bant, labels)
    # Contact details stay out on purpose: escalations reach channels, and channels are not a place for them.
    rows = (
        (labels.who, f"{name}, {title}" if title else name),
        (labels.company, f"{company} ({facts})" if facts else company),
        (labels.score, score),
        (labels.activity, trigger),
        (labels.bant, bant),
    )
    return LeadFacts(
        person_name=name,
        person_title=title,
        company_name=company,
        company_facts=facts,
        score_line=score,
        trigger_kind=trigger_kind,
        trigger_line=trigger,
        bant=bant,
        rows=rows,
    )


def format_when(at: datetime, *, timezone: str, locale: Locale) -> str:
    """A moment as the reader reads it: their zone, their language."""
    return _format_when(at, _zone(timezone), locale)


def format_duration(span: timedelta, *, locale: Locale) -> str:
    """A span in whole minutes, hours or days, rounded up, in the reader's language."""
    return _format_duration(span, _LABELS[locale])


def sla_line(sla_kind: SlaKind, due_at: datetime, *, now: datetime, timezone: str, locale: Locale) -> str:
    """What the owner must do and by when ("Call within 15 minutes — by 11:05 JST"), or that it is overdue."""
    labels = _LABELS[locale]
    due = _format_when(due_at, _zone(timezone), locale)
    within, overdue = labels.sla[sla_kind]
    remaining = due_at - now
    if remaining > timedelta(0):
        return within.format(window=_format_duration(remaining, labels), due=due)
    return overdue.format(due=due)


def owner_buttons(decision_id: str, lead_id: str, *, rep_id: str | None, locale: Locale) -> dict[str, Any]:
    """The Accept / Reject / Log contact actions block, for any message the owner acts on."""
    labels = _LABELS[locale]
    value = action_value(decision_id, lead_id, rep_id=rep_id, locale=locale)
    return {"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": _three_buttons(value, labels)}


def escape_mrkdwn(text: str) -> str:
    """Escape the characters Slack treats as markup, so user text cannot mention or link."""
    return _esc(text)


def clean_line(text: str, limit: int = _LINE_MAX) -> str:
    """One value on one line: control characters folded, length capped."""
    return _clean(text, limit)


def mrkdwn_section(text: str) -> dict[str, Any]:
    """A section block of mrkdwn text, clipped to Slack's limit."""
    return _section(text)


def mrkdwn_fields(*fields: str) -> dict[str, Any]:
    """A section block of up to ten mrkdwn fields, each clipped to Slack's limit."""
    return {"type": "section", "fields": [_mrkdwn(_clip(f, SLACK_FIELD_TEXT_MAX)) for f in fields[:10]]}


def header_block(text: str) -> dict[str, Any]:
    """A plain-text header block within Slack's limit."""
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(text, SLACK_HEADER_MAX), "emoji": True}}


def context_block(text: str) -> dict[str, Any]:
    """A context block with one mrkdwn element."""
    return {"type": "context", "elements": [_mrkdwn(_clip(text, SLACK_FIELD_TEXT_MAX))]}


def templates() -> jinja2.Environment:
    """The notifier's email templates (HTML autoescaped, text verbatim)."""
    return _templates()


def render_slack_assignment(
    decision: RoutingDecision, *, now: datetime, console_url: str | None = None
) -> SlackMessage:
    """Render the Block Kit message telling the owner (or the fallback queue) about a routed lead."""
    if decision.owner is not None:
        channel = decision.owner.slack_id
    elif decision.queue:
        channel = decision.queue
    else:
        raise NoRecipientError(decision.decision_id, "slack")
    view = _build_view(decision, now=now, console_url=console_url)
    labels = view.labels

    headline = f"*{_esc(view.sla_line)}*"
    if view.nobody_eligible is not None:
        headline += f"\n{_esc(view.nobody_eligible)}"

    who = [f"*{_esc(labels.who)}*", _esc(view.person_name)]
    if view.person_title:
        who.append(_esc(view.person_title))
    who.extend(_esc(c) for c in view.contact)
    company = [f"*{_esc(labels.company)}*", _esc(view.company_name)]
    if view.company_facts:
        company.append(_esc(view.company_facts))
    score = [f"*{_esc(labels.score)}*", _esc(view.score_line)]
    reasons = [f"*{_esc(labels.reasons)}*", *(f"• {_esc(r)}" for r in view.reasons)]
    activity = [f"*{_esc(labels.activity)}*", *(f"• {_esc(a)}" for a in view.activity)]
    facts = [
        f"*{_esc(labels.bant)}:* {_esc(view.bant)}",
        f"*{_esc(view.routing_label)}:* {_esc(view.routing_reason)}",
    ]
    context = _esc(view.footer)
    if view.console_link is not None:
        # The URL is ours but may carry a lead id: escape it too so a stray '>' or '|' cannot end the link.
        context += f" · <{_esc(view.console_link)}|{_esc(labels.open_console)}>"

    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(view.header, SLACK_HEADER_MAX), "emoji": True},
        },
        _section(headline),
        {
            "type": "section",
            "fields": [_mrkdwn(_clip("\n".join(f), SLACK_FIELD_TEXT_MAX)) for f in (who, company, score, reasons)],
        },
        _section("\n".join(activity)),
        _section("\n".join(facts)),
        {"type": "context", "elements": [_mrkdwn(_clip(context, SLACK_FIELD_TEXT_MAX))]},
        {
            "type": "actions",
            "block_id": ACTIONS_BLOCK_ID,
            "elements": _buttons(decision, labels, view.fallback, view.locale),
        },
    ]
    text = f"{view.header}: {view.person_name}, {view.company_name} — {view.trigger_kind}. {view.sla_line}"
    return SlackMessage(channel=channel, text=_esc(text), blocks=blocks)


def render_email_assignment(
    decision: RoutingDecision, *, now: datetime, console_url: str | None = None
) -> EmailMessage:
    """Render the email (text and HTML) telling the owner (or the fallback queue) about a routed lead."""
    if decision.owner is not None:
        to = decision.owner.email
    elif decision.queue and "@" in decision.queue:
        # A fallback queue can only be emailed when it is configured as an address (a shared mailbox).
        to = decision.queue
    else:
        raise NoRecipientError(decision.decision_id, "email")
    view = _build_view(decision, now=now, console_url=console_url)
    env = _templates()
    context = {"v": view, "l": view.labels}
    return EmailMessage(
        to=to,
        subject=view.subject,
        text=env.get_template("email.txt.j2").render(context),
        html=env.get_template("email.html.j2").render(context),
    )


@cache
def _templates() -> jinja2.Environment:
    # Built on first use, not at import, and only the HTML template is escaped: the text part is plain text.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _build_view(decision: RoutingDecision, *, now: datetime, console_url: str | None) -> _View:
    owner = decision.owner
    locale: Locale = owner.locale if owner is not None else "en"
    labels = _LABELS[locale]
    tz = _zone(owner.timezone if owner is not None else "UTC")
    lead = decision.lead
    person = lead.person
    queue = _clean(decision.queue or "", _NAME_MAX)

    rank = lead.rank.value
    total = _number(lead.total)
    if owner is None:
        header = labels.header_fallback.format(rank=rank, total=total)
        greeting = labels.greeting_fallback.format(queue=queue)
        nobody: str | None = labels.nobody_eligible.format(queue=queue)
    else:
        header = labels.header.format(icon=_RANK_ICONS[lead.rank], rank=rank, total=total)
        greeting_form = labels.greeting_reassigned if decision.kind == DecisionKind.REASSIGNED else labels.greeting
        greeting = greeting_form.format(name=_clean(owner.name, _NAME_MAX))
        nobody = None

    due = _format_when(decision.sla_due_at, tz, locale)
    within, overdue = labels.sla[decision.sla_kind]
    remaining = decision.sla_due_at - now
    if remaining > timedelta(0):
        sla_line = within.format(window=_format_duration(remaining, labels), due=due)
    else:
        sla_line = overdue.format(due=due)

    name = _clean(person.name, _NAME_MAX) if person and person.name else ""
    name = name or labels.unknown_person
    title = _clean(person.title, _NAME_MAX) if person and person.title else None
    contact = tuple(_clean(c, _NAME_MAX) for c in (person.email, person.phone) if c) if person else ()
    company = _clean(person.company, _NAME_MAX) if person and person.company else ""
    company = company or labels.unknown_company
    company_facts = _company_facts(person, labels)

    trigger_kind = EVENT_KIND_LABELS[lead.trigger.kind][locale]
    activity = (
        labels.trigger_line.format(kind=trigger_kind, when=_format_when(lead.trigger.occurred_at, tz, locale)),
        *(
            labels.trigger_line.format(
                kind=EVENT_KIND_LABELS[a.kind][locale], when=_format_when(a.occurred_at, tz, locale)
            )
            for a in _recent_activity(lead.recent_activity, lead.trigger.kind, lead.trigger.occurred_at)
        ),
    )

    footer_parts = [labels.footer.format(lead_id=lead.lead_id, decision_id=decision.decision_id, rule=decision.rule)]
    if decision.team:
        footer_parts.append(labels.footer_team.format(team=decision.team))
    footer_parts.append(labels.footer_model.format(model=lead.model_version))

    console_link = None
    if console_url:
        console_link = f"{console_url.rstrip('/')}/leads/{quote(lead.lead_id, safe='')}"

    return _View(
        locale=locale,
        labels=labels,
        fallback=owner is None,
        header=header,
        greeting=greeting,
        sla_line=sla_line,
        nobody_eligible=nobody,
        person_name=name,
        person_title=title,
        contact=contact,
        company_name=company,
        company_facts=company_facts,
        score_line=labels.score_line.format(rank=rank, total=total, fit=_number(lead.fit), intent=_number(lead.intent)),
        reasons=tuple(f"{_clean(r.label, _NAME_MAX)} {_signed(r.value)}" for r in _top_reasons(lead.reasons)),
        trigger_kind=trigger_kind,
        activity=activity,
        bant=_bant(lead.bant, labels),
        routing_label=labels.routing_fallback if owner is None else labels.routing,
        routing_reason=_clean(decision.reason, _LINE_MAX),
        footer=_clean(" · ".join(footer_parts), _LINE_MAX * 2),
        console_link=console_link,
        subject=(labels.subject_fallback if owner is None else labels.subject).format(
            rank=rank, trigger=trigger_kind, name=name, company=company, due=due
        ),
    )


def _company_facts(person: Person | None, labels: _Labels) -> str | None:
    if person is None:
        return None
    facts: list[str] = []
    if person.employees is not None:
        facts.append(labels.employees.format(n=f"{person.employees:,}"))
    if person.industry:
        facts.append(_clean(person.industry, _NAME_MAX))
    if person.country:
        facts.append(_clean(person.country, _NAME_MAX))
    return " · ".join(facts) or None


def _top_reasons(reasons: Sequence[ScoreReason]) -> list[ScoreReason]:
    # What pushed the score up explains the hand-off; rules that decayed to nothing explain nothing.
    ordered = sorted((r for r in reasons if round(r.value, 1) != 0), key=lambda r: (-r.value, r.label))
    return ordered[:_TOP_REASONS]


def _recent_activity(activity: Sequence[Activity], trigger_kind: EventKind, trigger_at: datetime) -> list[Activity]:
    # The trigger is listed first on its own line; repeating it below would read as a second action.
    others = [a for a in activity if not (a.kind == trigger_kind and a.occurred_at == trigger_at)]
    return sorted(others, key=lambda a: a.occurred_at, reverse=True)[:_RECENT_ACTIVITY_MAX]


def _bant(bant: Bant, labels: _Labels) -> str:
    flags = (bant.budget, bant.authority, bant.need, bant.timeline)
    confirmed = [f"{name} ✓" for name, ok in zip(labels.bant_names, flags, strict=True) if ok]
    return labels.list_separator.join(confirmed) if confirmed else labels.bant_none


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # A rep's misconfigured timezone must not stop their alert; UTC times are still correct times.
        return ZoneInfo("UTC")


def _format_when(at: datetime, tz: ZoneInfo, locale: Locale) -> str:
    local = at.astimezone(tz)
    zone = local.strftime("%Z") or "UTC"
    clock = f"{local.hour:02d}:{local.minute:02d} {zone}"
    weekday = _LABELS[locale].weekdays[local.weekday()]
    if locale == "ja":
        return f"{local.month}月{local.day}日({weekday}) {clock}"
    return f"{clock} ({weekday} {local.day} {_EN_MONTHS[local.month - 1]})"


def _format_duration(span: timedelta, labels: _Labels) -> str:
    # Rounded up to the minute: "within 59 minutes" when 59m30s remain would promise time the rep lacks.
    minutes = max(1, math.ceil(span.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if minutes >= 48 * 60:
        parts = [(days, labels.day), (hours, labels.hour)]
    else:
        parts = [(days * 24 + hours, labels.hour), (mins, labels.minute)]
    words = [forms[0 if n == 1 else 1].format(n=n) for n, forms in parts if n]
    return labels.duration_separator.join(words)


def _number(value: float) -> str:
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


def _signed(value: float) -> str:
    text = _number(abs(value))
    return f"-{text}" if round(value, 1) < 0 else f"+{text}"


def _clean(text: str, limit: int) -> str:
    """Fold newlines and control characters into spaces and cap the length: one value, one line."""
    return _clip(_CONTROL_OR_SPACE.sub(" ", text).strip(), limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _esc(text: str) -> str:
    """Escape the three characters Slack treats as markup, so user text cannot mention or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(_clip(text, SLACK_SECTION_TEXT_MAX))}


def _buttons(decision: RoutingDecision, labels: _Labels, fallback: bool, locale: Locale) -> list[dict[str, Any]]:
    owner = decision.owner
    value = action_value(
        decision.decision_id, decision.lead_id, rep_id=owner.rep_id if owner is not None else None, locale=locale
    )
    if fallback:
        # A queued lead has nobody to reject or log it yet: whoever takes it becomes its owner.
        return [_button(ACTION_ACCEPT, labels.take, value, "primary")]
    return _three_buttons(value, labels)


def _three_buttons(value: str, labels: _Labels) -> list[dict[str, Any]]:
    return [
        _button(ACTION_ACCEPT, labels.accept, value, "primary"),
        _button(ACTION_REJECT, labels.reject, value, "danger"),
        _button(ACTION_CONTACTED, labels.contacted, value),
    ]


def _button(action_id: str, text: str, value: str, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "value": value,
    }
    if style is not None:
        element["style"] = style
    return element
