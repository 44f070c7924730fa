"""Slack interactions, pure: request signatures, reading clicks and modal submits, feedback events, updates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from services.notifier.domain import (
    ACTION_ACCEPT,
    ACTION_CONTACTED,
    ACTION_REJECT,
    ACTIONS_BLOCK_ID,
    ActionValue,
    action_value,
    render_slack_assignment,
)
from services.notifier.interactions import (
    REASON_CODE_BLOCK,
    REASON_TEXT_BLOCK,
    REJECT_CALLBACK_ID,
    STATUS_BLOCK_ID,
    ButtonClick,
    Ignored,
    InteractionError,
    RejectSubmission,
    SignatureError,
    acted_blocks,
    feedback_event,
    parse_interaction,
    reject_modal,
    slack_signature,
    submission_errors,
    verify_slack_signature,
)
from shared.events import Channel, EventKind
from tests.notifier.factories import NOW, a_decision, a_rep

# Slack's worked example, "Verifying requests from Slack":
# https://api.slack.com/authentication/verifying-requests-from-slack
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = "1531420618"
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
    b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
    b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
    b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
FIVE_MINUTES = 300.0


def verify(
    *, secret: str = SLACK_SECRET, timestamp: str | None = SLACK_TIMESTAMP, signature: str | None = SLACK_SIGNATURE,
    body: bytes = SLACK_BODY, now: float = float(SLACK_TIMESTAMP),
) -> None:  # fmt: skip
    verify_slack_signature(secret, timestamp, signature, body, now=now, max_age_s=FIVE_MINUTES)


# --- signatures ---


def test_slacks_documented_example_signature_is_computed_exactly() -> None:
    # Given Slack's documented secret, timestamp and body
    # When the signature is computed
    # Then it is the one Slack documents
    assert slack_signature(SLACK_SECRET, SLACK_TIMESTAMP, SLACK_BODY) == SLACK_SIGNATURE


def test_slacks_documented_example_request_is_accepted() -> None:
    # Given Slack's documented request, checked at the moment it was sent
    # When it is verified
    # Then it passes
    verify()


def test_a_tampered_body_is_refused() -> None:
    # Given the documented request with one character of the body changed
    tampered = SLACK_BODY.replace(b"roadrunner", b"roadrunnex")
    # When it is verified
    # Then the signature does not match
    with pytest.raises(SignatureError) as caught:
        verify(body=tampered)
    assert caught.value.reason == "mismatch"


def test_a_timestamp_older_than_five_minutes_is_refused_as_a_replay() -> None:
    # Given the documented request, replayed five minutes and one second later
    # When it is verified
    # Then it is refused as stale, although its signature is right
    with pytest.raises(SignatureError) as caught:
        verify(now=float(SLACK_TIMESTAMP) + FIVE_MINUTES + 1)
    assert caught.value.reason == "stale"


def test_a_timestamp_within_five_minutes_is_accepted() -> None:
    # Given the documented request, checked four minutes and fifty-nine seconds later
    # When it is verified
    # Then it passes
    verify(now=float(SLACK_TIMESTAMP) + FIVE_MINUTES - 1)


def test_a_timestamp_from_the_future_is_refused() -> None:
    # Given a request claiming to be signed ten minutes from now
    # When it is verified
    # Then it is refused: a forged future stamp would otherwise stay replayable for longer
    with pytest.raises(SignatureError) as caught:
        verify(now=float(SLACK_TIMESTAMP) - 2 * FIVE_MINUTES)
    assert caught.value.reason == "stale"


def test_a_signature_made_with_another_secret_is_refused() -> None:
    # Given the documented request checked against another app's secret
    # When it is verified
    # Then the signature does not match
    with pytest.raises(SignatureError) as caught:
        verify(secret="another-apps-signing-secret")
    assert caught.value.reason == "mismatch"


def test_a_retimestamped_request_with_the_old_signature_is_refused() -> None:
    # Given an attacker who moves the timestamp forward to pass the freshness check
    fresh = str(int(SLACK_TIMESTAMP) + 3600)
    # When it is verified at that time
    # Then the signature, bound to the original timestamp, no longer matches
    with pytest.raises(SignatureError) as caught:
        verify(timestamp=fresh, now=float(fresh))
    assert caught.value.reason == "mismatch"


@pytest.mark.parametrize(("timestamp", "signature", "reason"), [(None, SLACK_SIGNATURE, "missing"),
    (SLACK_TIMESTAMP, None, "missing"), ("yesterday", SLACK_SIGNATURE, "malformed")])  # fmt: skip
def test_missing_or_malformed_headers_are_refused(timestamp: str | None, signature: str | None, reason: str) -> None:
    # Given a request without one of Slack's headers, or with a timestamp that is not a number
    # When it is verified
    # Then it is refused, saying why
    with pytest.raises(SignatureError) as caught:
        verify(timestamp=timestamp, signature=signature)
    assert caught.value.reason == reason


# --- reading interactions ---


def a_click(action_id: str = ACTION_ACCEPT, *, value: str | None = None, **overrides: Any) -> dict[str, Any]:
    message = render_slack_assignment(a_decision(decision_id="dec-9"), now=NOW)
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U07KENSATO", "username": "ken", "team_id": "T1"},
        "trigger_id": "1234.5678.abcd",
        "container": {"type": "message", "message_ts": "1764000000.000100", "channel_id": "D07KENSATO"},
        "channel": {"id": "D07KENSATO"},
        "message": {"ts": "1764000000.000100", "text": message.text, "blocks": message.blocks},
        "actions": [
            {
                "action_id": action_id,
                "block_id": ACTIONS_BLOCK_ID,
                "type": "button",
                "value": value or action_value("dec-9", "ld_0123456789abcdef01234567", rep_id="rep-7", locale="en"),
                "action_ts": "1764000100.123456",
            }
        ],
    }
    return payload | overrides


def form(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_an_accept_click_is_read_with_who_where_and_which_decision() -> None:
    # Given a rep's click on Accept
    # When the request body is read
    click = parse_interaction(form(a_click()))
    # Then it names the outcome, the decision, the rep, and the message to update
    assert isinstance(click, ButtonClick)
    assert click.outcome == "accepted"
    assert click.value == ActionValue("dec-9", "ld_0123456789abcdef01234567", rep_id="rep-7", locale="en")
    assert (click.user_id, click.channel_id, click.message_ts) == ("U07KENSATO", "D07KENSATO", "1764000000.000100")
    assert click.trigger_id == "1234.5678.abcd"
    assert any(b.get("block_id") == ACTIONS_BLOCK_ID for b in click.blocks)


@pytest.mark.parametrize(("action_id", "outcome"), [(ACTION_REJECT, "rejected"), (ACTION_CONTACTED, "contacted")])
def test_reject_and_log_contact_clicks_are_told_apart(action_id: str, outcome: str) -> None:
    # Given a click on Reject or Log contact
    # When it is read
    click = parse_interaction(form(a_click(action_id)))
    # Then its outcome says which
    assert isinstance(click, ButtonClick)
    assert click.outcome == outcome


def test_a_click_on_someone_elses_button_is_ignored() -> None:
    # Given a block_actions payload for an action this app does not own
    # When it is read
    # Then it is acknowledged and ignored
    assert isinstance(parse_interaction(form(a_click("other_app_button"))), Ignored)


@pytest.mark.parametrize(
    "body",
    [b"", b"payload=not-json", b"nothing=here", urlencode({"payload": "[1, 2]"}).encode()],
    ids=["empty", "not-json", "no-payload", "not-an-object"],
)
def test_a_body_that_is_not_an_interaction_is_refused(body: bytes) -> None:
    # Given a signed body that does not hold an interaction payload
    # When it is read
    # Then a typed error says so (answered 400, not 500)
    with pytest.raises(InteractionError):
        parse_interaction(body)


def test_a_click_with_a_forged_button_value_is_refused() -> None:
    # Given a click whose value was not written by the renderer
    # When it is read
    # Then it is refused
    with pytest.raises(InteractionError):
        parse_interaction(form(a_click(value="drop table leads")))


# --- feedback events ---


def an_action(**overrides: Any) -> ActionValue:
    return ActionValue("dec-9", "ld_0123456789abcdef01234567", rep_id="rep-7", locale="en", **overrides)


def test_an_accept_becomes_a_sales_accepted_feedback_event_for_the_lead() -> None:
    # Given an accepted decision
    # When its feedback event is built
    event = feedback_event(
        outcome="accepted", value=an_action(), user_id="U07KENSATO", occurred_at=NOW, received_at=NOW
    )
    # Then it is sales feedback about the lead, naming the rep and the decision
    assert (event.channel, event.kind, event.lead_id) == (
        Channel.FEEDBACK,
        EventKind.SALES_ACCEPTED,
        "ld_0123456789abcdef01234567",
    )
    assert event.details == {"decision_id": "dec-9", "slack_user": "U07KENSATO", "via": "slack", "rep": "rep-7"}
    assert event.person is None


def test_accepting_twice_yields_the_same_event_id_so_it_counts_once() -> None:
    # Given two clicks on Accept for one decision, a second apart
    first = feedback_event(
        outcome="accepted", value=an_action(), user_id="U1", occurred_at=NOW, received_at=NOW, click_id="1.1"
    )
    second = feedback_event(
        outcome="accepted", value=an_action(), user_id="U1", occurred_at=NOW, received_at=NOW, click_id="2.2"
    )
    # When their ids are compared
    # Then they are equal: the consumers' dedupe drops the second
    assert first.event_id == second.event_id


def test_each_logged_contact_is_its_own_event() -> None:
    # Given two contact attempts logged on one decision
    first = feedback_event(
        outcome="contacted", value=an_action(), user_id="U1", occurred_at=NOW, received_at=NOW, click_id="1.1"
    )
    second = feedback_event(
        outcome="contacted", value=an_action(), user_id="U1", occurred_at=NOW, received_at=NOW, click_id="2.2"
    )
    # When their ids are compared
    # Then they differ: every attempt counts toward the follow-up target
    assert first.event_id != second.event_id
    assert first.kind == EventKind.SALES_CONTACTED


def test_a_rejection_carries_its_reason_code_and_the_reps_words() -> None:
    # Given a rejection with a reason picked and explained
    event = feedback_event(
        outcome="rejected", value=an_action(), user_id="U1", occurred_at=NOW, received_at=NOW,
        reason_code="existing_customer", reason_text="Renewal already with Yamada-san",
    )  # fmt: skip
    # When its details are read
    # Then the reason is there as a code marketing can count and a line a person can read
    assert event.kind == EventKind.SALES_REJECTED
    assert event.details["reason_code"] == "existing_customer"
    assert event.details["reason"] == "Already a customer or in a deal: Renewal already with Yamada-san"


# --- the reject modal ---


def test_the_reject_modal_is_valid_block_kit_and_remembers_the_message() -> None:
    # Given a click on Reject
    click = parse_interaction(form(a_click(ACTION_REJECT)))
    assert isinstance(click, ButtonClick)
    # When the modal is built
    view = reject_modal(click)
    # Then slack_sdk validates it, and it carries the decision and the message to update
    View(**{k: v for k, v in view.items() if k != "blocks"}, blocks=view["blocks"]).validate_json()
    for block in view["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
    metadata = json.loads(view["private_metadata"])
    assert (metadata["c"], metadata["ts"]) == ("D07KENSATO", "1764000000.000100")
    assert view["callback_id"] == REJECT_CALLBACK_ID


def test_the_reject_modal_speaks_japanese_to_a_japanese_rep() -> None:
    # Given a Japanese rep's click on Reject
    value = action_value("dec-9", "ld_0123456789abcdef01234567", rep_id="rep-7", locale="ja")
    click = parse_interaction(form(a_click(ACTION_REJECT, value=value)))
    assert isinstance(click, ButtonClick)
    # When the modal is built
    view = reject_modal(click)
    # Then its title, button and reasons are in Japanese
    assert view["title"]["text"] == "リードを却下"
    assert view["submit"]["text"] == "却下する"
    options = view["blocks"][1]["element"]["options"]
    assert any(o["text"]["text"] == "予算なし" for o in options)


def a_submission(code: str | None, text: str | None) -> dict[str, Any]:
    click = parse_interaction(form(a_click(ACTION_REJECT)))
    assert isinstance(click, ButtonClick)
    view = reject_modal(click)
    values: dict[str, Any] = {
        REASON_CODE_BLOCK: {"value": {"type": "static_select", "selected_option": {"value": code} if code else None}},
        REASON_TEXT_BLOCK: {"value": {"type": "plain_text_input", "value": text}},
    }
    return {
        "type": "view_submission",
        "user": {"id": "U07KENSATO"},
        "view": {**view, "id": "V1", "state": {"values": values}},
    }


def test_a_submitted_reject_modal_is_read_with_its_reason_and_message() -> None:
    # Given a submitted reject modal
    # When it is read
    submission = parse_interaction(form(a_submission("no_budget", "Frozen until April")))
    # Then it names the decision, the reason and the message to update
    assert isinstance(submission, RejectSubmission)
    assert submission.value.decision_id == "dec-9"
    assert (submission.reason_code, submission.reason_text) == ("no_budget", "Frozen until April")
    assert (submission.channel_id, submission.message_ts) == ("D07KENSATO", "1764000000.000100")
    assert submission_errors(submission) is None


@pytest.mark.parametrize(
    ("code", "text", "block"), [(None, None, REASON_CODE_BLOCK), ("other", None, REASON_TEXT_BLOCK)]
)
def test_a_reject_modal_without_a_usable_reason_asks_again(code: str | None, text: str | None, block: str) -> None:
    # Given a submit without a reason, or "Other" without saying why
    submission = parse_interaction(form(a_submission(code, text)))
    assert isinstance(submission, RejectSubmission)
    # When it is checked
    errors = submission_errors(submission)
    # Then the modal stays open with an error on the field to fill
    assert errors is not None
    assert block in errors


# --- the updated message ---


def original_blocks() -> list[dict[str, Any]]:
    return render_slack_assignment(a_decision(owner=a_rep()), now=NOW).blocks


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def status_text(blocks: list[dict[str, Any]]) -> str:
    (status,) = [b for b in blocks if b.get("block_id") == STATUS_BLOCK_ID]
    return str(status["elements"][0]["text"])


def test_after_accepting_only_log_contact_remains_and_the_status_names_the_rep() -> None:
    # Given the original message
    # When the rep accepts
    blocks = acted_blocks(original_blocks(), outcome="accepted", user_id="U07KENSATO", at=NOW, locale="en")
    # Then the message says who accepted, and only logging a contact is left to do
    assert action_ids(blocks) == [ACTION_CONTACTED]
    assert "Accepted by <@U07KENSATO>" in status_text(blocks)
    assert f"<!date^{int(NOW.timestamp())}^" in status_text(blocks)


def test_after_rejecting_no_buttons_remain_and_the_reason_shows() -> None:
    # Given the original message
    # When the rep rejects with a reason
    blocks = acted_blocks(
        original_blocks(), outcome="rejected", user_id="U1", at=NOW, locale="en", reason="No budget: <!channel>"
    )
    # Then no buttons remain and the reason shows, escaped so it cannot ping anyone
    assert action_ids(blocks) == []
    assert "No budget: &lt;!channel&gt;" in status_text(blocks)


def test_after_logging_a_contact_every_button_stays_and_the_newest_status_replaces_the_last() -> None:
    # Given a message where a contact was already logged
    once = acted_blocks(original_blocks(), outcome="contacted", user_id="U1", at=NOW, locale="en")
    # When another contact is logged
    twice = acted_blocks(once, outcome="contacted", user_id="U1", at=datetime(2026, 11, 24, 2, tzinfo=UTC), locale="ja")
    # Then all three buttons stay, with one status line, the newest
    assert action_ids(twice) == [ACTION_ACCEPT, ACTION_REJECT, ACTION_CONTACTED]
    assert "連絡を記録" in status_text(twice)


def test_the_updated_message_is_valid_block_kit() -> None:
    # Given an accepted message
    blocks = acted_blocks(original_blocks(), outcome="accepted", user_id="U1", at=NOW, locale="en")
    # When slack_sdk parses each block
    # Then every block is valid
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()
