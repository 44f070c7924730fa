"""Slack interactions, pure: request signatures, button clicks and the reject modal, feedback events, the
updated message. No I/O and no clock: the adapter (:mod:`services.notifier.feedback`) passes ``now``.

Slack signs every request: ``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{raw body}">`` with
the app's signing secret, and ``X-Slack-Request-Timestamp``. Interactions arrive form-encoded with one field,
``payload``, holding JSON: ``block_actions`` for a button click, ``view_submission`` for a modal's submit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs

from services.notifier.domain import (
    ACTION_ACCEPT,
    ACTION_CONTACTED,
    ACTION_REJECT,
    ACTIONS_BLOCK_ID,
    ActionValue,
    Locale,
    action_value,
    clean_line,
    escape_mrkdwn,
    parse_action_value,
)
from shared.events import Channel, CloudEvent, CloudEventType, EventKind, LeadEvent

SIGNATURE_VERSION = "v0"
REJECT_CALLBACK_ID = "lead_reject_reason"
REASON_CODE_BLOCK = "reason_code"
REASON_TEXT_BLOCK = "reason_text"
STATUS_BLOCK_ID = "lead_status"
_INPUT_ACTION = "value"
_REASON_TEXT_MAX = 500
_METADATA_MAX = 3000  # Slack's limit on a view's private_metadata

Outcome = Literal["accepted", "rejected", "contacted"]

FEEDBACK_KINDS: Mapping[Outcome, EventKind] = {
    "accepted": EventKind.SALES_ACCEPTED,
    "rejected": EventKind.SALES_REJECTED,
    "contacted": EventKind.SALES_CONTACTED,
}

# Why a rep turns a lead down, as codes marketing can count when it re-tunes scoring.
REJECT_REASONS: Mapping[str, Mapping[Locale, str]] = {
    "not_a_fit": {"en": "Not a fit (size, industry, region)", "ja": "対象外（規模・業種・地域）"},
    "no_need": {"en": "No need or no project", "ja": "ニーズ・案件なし"},
    "no_budget": {"en": "No budget", "ja": "予算なし"},
    "existing_customer": {"en": "Already a customer or in a deal", "ja": "既存顧客・商談中"},
    "duplicate": {"en": "Duplicate of another lead", "ja": "重複リード"},
    "bad_contact": {"en": "Wrong or fake contact details", "ja": "連絡先が不正確"},
    "competitor_or_partner": {"en": "Competitor, partner or vendor", "ja": "競合・パートナー・業者"},
    "other": {"en": "Other (say why below)", "ja": "その他（下に理由を記入）"},
}


@dataclass(frozen=True)
class _Words:
    modal_title: str
    modal_submit: str
    modal_close: str
    modal_intro: str
    reason_code: str
    reason_text: str
    reason_required: str
    accepted: str
    rejected: str
    contacted: str


_WORDS: Mapping[Locale, _Words] = {
    "en": _Words(
        modal_title="Reject lead",
        modal_submit="Reject",
        modal_close="Cancel",
        modal_intro="Why is this lead not for you? The reason goes back to marketing to tune lead scoring.",
        reason_code="Reason",
        reason_text="Details",
        reason_required="Pick a reason, or choose Other and say why.",
        accepted="✅ Accepted by {user} · {when}",
        rejected="❌ Rejected by {user} · {when} · {reason}",
        contacted="📞 Contact logged by {user} · {when}",
    ),
    "ja": _Words(
        modal_title="リードを却下",
        modal_submit="却下する",
        modal_close="キャンセル",
        modal_intro="このリードを却下する理由を選んでください。理由はマーケティングに戻り、スコアリングの改善に使われます。",
        reason_code="理由",
        reason_text="詳細",
        reason_required="理由を選ぶか、「その他」を選んで理由を書いてください。",
        accepted="✅ {user} さんが受諾 · {when}",
        rejected="❌ {user} さんが却下 · {when} · {reason}",
        contacted="📞 {user} さんが連絡を記録 · {when}",
    ),
}


class SignatureError(ValueError):
    """The request is not provably from Slack: missing headers, stale timestamp, or a signature mismatch."""

    def __init__(self, reason: Literal["missing", "malformed", "stale", "mismatch"]) -> None:
        super().__init__(f"Slack signature {reason}")
        self.reason = reason


class InteractionError(ValueError):
    """A signed request whose payload we cannot read: answered 400, never 500."""


@dataclass(frozen=True)
class ButtonClick:
    """A rep pressed one of our buttons on a message."""

    outcome: Outcome
    value: ActionValue
    user_id: str
    channel_id: str
    message_ts: str
    action_ts: str
    trigger_id: str | None
    blocks: list[dict[str, Any]]


@dataclass(frozen=True)
class RejectSubmission:
    """A rep submitted the reject modal with a reason."""

    value: ActionValue
    user_id: str
    channel_id: str
    message_ts: str
    reason_code: str | None
    reason_text: str | None


@dataclass(frozen=True)
class Ignored:
    """Anything else Slack sends (other actions, modal closes): acknowledged and dropped."""

    what: str


Interaction = ButtonClick | RejectSubmission | Ignored


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">``, as Slack computes it."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    return f"{SIGNATURE_VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify_slack_signature(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, *, now: float, max_age_s: float
) -> None:
    """Raise SignatureError unless ``signature`` is Slack's for this body and the timestamp is fresh."""
    if not timestamp or not signature:
        raise SignatureError("missing")
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise SignatureError("malformed") from exc
    # Replays: a captured request is useless once it is older than the window (or claims to be from the future).
    if abs(now - sent_at) > max_age_s:
        raise SignatureError("stale")
    expected = slack_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("mismatch")


def parse_interaction(body: bytes) -> Interaction:
    """Read a form-encoded interaction request; raises InteractionError when it is not one."""
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, json.JSONDecodeError) as exc:
        raise InteractionError("expected a form field 'payload' holding JSON") from exc
    if not isinstance(payload, dict):
        raise InteractionError("payload is not a JSON object")
    kind = payload.get("type")
    if kind == "block_actions":
        return _button_click(payload)
    if kind == "view_submission":
        return _submission(payload)
    return Ignored(what=str(kind))


def feedback_event(
    *, outcome: Outcome, value: ActionValue, user_id: str, occurred_at: datetime, received_at: datetime,
    click_id: str | None = None, reason_code: str | None = None, reason_text: str | None = None,
) -> LeadEvent:  # fmt: skip
    """The sales-feedback event a click stands for, with an id derived from the action itself.

    Accepting or rejecting a decision happens once: a double click or a repeated submit maps to the same
    event id, which every consumer drops as a duplicate. Each logged contact counts (reps make several
    attempts), so ``click_id`` (Slack's action_ts) joins its id.
    """
    scope = [value.decision_id, outcome] + ([click_id or ""] if outcome == "contacted" else [])
    event_id = "slk_" + hashlib.sha256("|".join(scope).encode()).hexdigest()[:32]
    details: dict[str, Any] = {"decision_id": value.decision_id, "slack_user": user_id, "via": "slack"}
    if value.rep_id is not None:
        details["rep"] = value.rep_id
    if outcome == "rejected":
        details["reason"] = reject_reason_line(reason_code, reason_text)
        if reason_code is not None:
            details["reason_code"] = reason_code
    return LeadEvent(
        event_id=event_id,
        lead_id=value.lead_id,
        channel=Channel.FEEDBACK,
        kind=FEEDBACK_KINDS[outcome],
        occurred_at=occurred_at,
        received_at=received_at,
        source="slack:interaction",
        details=details,
    )


def feedback_cloud_event(event: LeadEvent) -> CloudEvent[LeadEvent]:
    """The feedback event as the CloudEvent ingest would publish on the lead-events topic."""
    return CloudEvent[LeadEvent](
        id=event.event_id,
        source=f"/leadflow/notifier/{event.source}",
        type=CloudEventType.LEAD_EVENT,
        subject=event.lead_id,
        time=event.occurred_at,
        data=event,
    )


def reject_reason_line(code: str | None, text: str | None) -> str:
    """One line for the feedback event: the reason's English label, then the rep's words."""
    label = REJECT_REASONS[code]["en"] if code is not None and code in REJECT_REASONS else None
    parts = [p for p in (label, text) if p]
    return clean_line(": ".join(parts) if parts else "no reason given", _REASON_TEXT_MAX)


def reject_modal(click: ButtonClick) -> dict[str, Any]:
    """The modal asking why, opened with views.open; it carries where the original message is."""
    words = _WORDS[click.value.locale]
    metadata = json.dumps(
        {
            "v": action_value(
                click.value.decision_id, click.value.lead_id, rep_id=click.value.rep_id, locale=click.value.locale
            ),
            "c": click.channel_id,
            "ts": click.message_ts,
        },
        separators=(",", ":"),
    )
    if len(metadata) > _METADATA_MAX:
        raise InteractionError("button value too long to carry through the modal")
    options = [
        {"text": {"type": "plain_text", "text": labels[click.value.locale]}, "value": code}
        for code, labels in REJECT_REASONS.items()
    ]
    return {
        "type": "modal",
        "callback_id": REJECT_CALLBACK_ID,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": words.modal_title},
        "submit": {"type": "plain_text", "text": words.modal_submit},
        "close": {"type": "plain_text", "text": words.modal_close},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": escape_mrkdwn(words.modal_intro)}},
            {
                "type": "input",
                "block_id": REASON_CODE_BLOCK,
                "label": {"type": "plain_text", "text": words.reason_code},
                "element": {"type": "static_select", "action_id": _INPUT_ACTION, "options": options},
            },
            {
                "type": "input",
                "block_id": REASON_TEXT_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": words.reason_text},
                "element": {
                    "type": "plain_text_input",
                    "action_id": _INPUT_ACTION,
                    "multiline": True,
                    "max_length": _REASON_TEXT_MAX,
                },
            },
        ],
    }


def submission_errors(submission: RejectSubmission) -> dict[str, str] | None:
    """Slack's ``response_action: errors`` map when the modal lacks what we need, else None."""
    words = _WORDS[submission.value.locale]
    if submission.reason_code not in REJECT_REASONS:
        return {REASON_CODE_BLOCK: words.reason_required}
    if submission.reason_code == "other" and not submission.reason_text:
        return {REASON_TEXT_BLOCK: words.reason_required}
    return None


def acted_blocks(
    blocks: Sequence[dict[str, Any]], *, outcome: Outcome, user_id: str, at: datetime, locale: Locale,
    reason: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The original message after a click: a status line saying who did what, and what is left to do.

    Accepted: only "Log contact" remains. Rejected: no buttons. Contacted: every button stays, since a
    rep makes several attempts. Times use Slack's date token, so each reader sees their own time zone.
    """
    words = _WORDS[locale]
    stamp = int(at.timestamp())
    fallback = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    when = f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{fallback}>"
    user = f"<@{user_id}>"
    if outcome == "accepted":
        status = words.accepted.format(user=user, when=when)
    elif outcome == "rejected":
        status = words.rejected.format(user=user, when=when, reason=escape_mrkdwn(reason or ""))
    else:
        status = words.contacted.format(user=user, when=when)
    status_block = {"type": "context", "block_id": STATUS_BLOCK_ID, "elements": [{"type": "mrkdwn", "text": status}]}
    out: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("block_id") == STATUS_BLOCK_ID:
            continue  # the newest status replaces the previous one
        if block.get("block_id") == ACTIONS_BLOCK_ID:
            out.append(status_block)
            remaining = _remaining_buttons(block, outcome)
            if remaining:
                out.append({**block, "elements": remaining})
            continue
        out.append(block)
    if not any(b.get("block_id") == STATUS_BLOCK_ID for b in out):
        out.append(status_block)
    return out


def _remaining_buttons(block: dict[str, Any], outcome: Outcome) -> list[dict[str, Any]]:
    elements = [e for e in block.get("elements", []) if isinstance(e, dict)]
    if outcome == "rejected":
        return []
    if outcome == "accepted":
        return [e for e in elements if e.get("action_id") == ACTION_CONTACTED]
    return elements


_OUTCOMES: Mapping[str, Outcome] = {
    ACTION_ACCEPT: "accepted",
    ACTION_REJECT: "rejected",
    ACTION_CONTACTED: "contacted",
}


def _button_click(payload: dict[str, Any]) -> Interaction:
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise InteractionError("block_actions without actions")
    action = actions[0]
    outcome = _OUTCOMES.get(str(action.get("action_id")))
    if outcome is None:
        return Ignored(what=f"action {action.get('action_id')!r}")
    value = _action_value(action.get("value"))
    container = _object(payload.get("container"))
    message = _object(payload.get("message"))
    channel = container.get("channel_id") or _nested(payload, "channel", "id")
    message_ts = container.get("message_ts") or message.get("ts")
    user_id = _nested(payload, "user", "id")
    if not (isinstance(channel, str) and isinstance(message_ts, str) and isinstance(user_id, str)):
        raise InteractionError("block_actions lacks user, channel or message")
    blocks = message.get("blocks")
    return ButtonClick(
        outcome=outcome,
        value=value,
        user_id=user_id,
        channel_id=channel,
        message_ts=message_ts,
        action_ts=str(action.get("action_ts") or message_ts),
        trigger_id=payload.get("trigger_id") if isinstance(payload.get("trigger_id"), str) else None,
        blocks=[b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else [],
    )


def _submission(payload: dict[str, Any]) -> Interaction:
    view = payload.get("view")
    if not isinstance(view, dict) or view.get("callback_id") != REJECT_CALLBACK_ID:
        return Ignored(what="view_submission of another view")
    try:
        metadata = json.loads(view.get("private_metadata") or "")
    except json.JSONDecodeError as exc:
        raise InteractionError("reject modal without its metadata") from exc
    if not isinstance(metadata, dict):
        raise InteractionError("reject modal metadata is not an object")
    value = _action_value(metadata.get("v"))
    channel, ts = metadata.get("c"), metadata.get("ts")
    user_id = _nested(payload, "user", "id")
    if not (isinstance(channel, str) and isinstance(ts, str) and isinstance(user_id, str)):
        raise InteractionError("reject modal lacks user, channel or message")
    values = _nested(view, "state", "values")
    values = values if isinstance(values, dict) else {}
    code = _nested(values, REASON_CODE_BLOCK, _INPUT_ACTION, "selected_option", "value")
    text = _nested(values, REASON_TEXT_BLOCK, _INPUT_ACTION, "value")
    return RejectSubmission(
        value=value,
        user_id=user_id,
        channel_id=channel,
        message_ts=ts,
        reason_code=code if isinstance(code, str) else None,
        reason_text=clean_line(text, _REASON_TEXT_MAX) or None if isinstance(text, str) else None,
    )


def _action_value(raw: Any) -> ActionValue:
    if not isinstance(raw, str):
        raise InteractionError("button without a value")
    try:
        return parse_action_value(raw)
    except ValueError as exc:
        raise InteractionError(str(exc)) from exc


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _nested(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
