"""The Slack Web API stand-in answers like Slack: same checks, same error strings, injectable faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from leadflow.standins.slack import SlackState, create_slack_app

TOKEN = "xoxb-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Call within 1 hour*"}}


@pytest.fixture
async def slack() -> AsyncIterator[httpx.AsyncClient]:
    app = create_slack_app(TOKEN)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as client:
        yield client


async def post_message(client: httpx.AsyncClient, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", AUTH)
    return await client.post("/api/chat.postMessage", json=body, headers=headers, **kwargs)


async def listed(client: httpx.AsyncClient, channel: str | None = None) -> list[dict[str, Any]]:
    params = {"channel": channel} if channel else {}
    response = await client.get("/_standin/slack/messages", params=params)
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


# --- accepted messages ---


async def test_a_good_message_is_accepted_with_channel_and_ts(slack: httpx.AsyncClient) -> None:
    # Given a valid message for a user
    body = {"channel": "U07KENSATO", "text": "New lead", "blocks": [SECTION]}
    # When it is posted
    response = await post_message(slack, body)
    # Then Slack's success shape comes back
    answer = response.json()
    assert response.status_code == 200
    assert answer["ok"] is True
    assert answer["channel"] == "U07KENSATO"
    assert answer["ts"]
    assert answer["message"]["blocks"] == [SECTION]


async def test_an_accepted_message_is_listed(slack: httpx.AsyncClient) -> None:
    # Given a posted message
    await post_message(slack, {"channel": "U07KENSATO", "text": "New lead", "blocks": [SECTION]})
    # When the messages are read out
    messages = await listed(slack)
    # Then it is there with its text and blocks
    assert [(m["channel"], m["text"], m["blocks"]) for m in messages] == [("U07KENSATO", "New lead", [SECTION])]


async def test_each_message_gets_its_own_ts(slack: httpx.AsyncClient) -> None:
    # Given two posts of the same message
    first = await post_message(slack, {"channel": "C0LEADS", "text": "one"})
    second = await post_message(slack, {"channel": "C0LEADS", "text": "one"})
    # When their timestamps are compared
    # Then they differ, as Slack's do
    assert first.json()["ts"] != second.json()["ts"]


async def test_messages_can_be_filtered_by_channel(slack: httpx.AsyncClient) -> None:
    # Given messages to two channels
    await post_message(slack, {"channel": "U07KENSATO", "text": "for Ken"})
    await post_message(slack, {"channel": "C0FALLBACK", "text": "for the queue"})
    # When one channel is asked for
    messages = await listed(slack, channel="C0FALLBACK")
    # Then only its messages come back
    assert [m["text"] for m in messages] == ["for the queue"]


async def test_deleting_messages_empties_the_list(slack: httpx.AsyncClient) -> None:
    # Given a posted message
    await post_message(slack, {"channel": "U07KENSATO", "text": "New lead"})
    # When the list is deleted
    await slack.delete("/_standin/slack/messages")
    # Then nothing is listed
    assert await listed(slack) == []


async def test_json_with_a_charset_is_accepted(slack: httpx.AsyncClient) -> None:
    # Given a JSON body declared with a charset, as slack_sdk sends it
    headers = AUTH | {"Content-Type": "application/json; charset=utf-8"}
    # When it is posted
    response = await slack.post(
        "/api/chat.postMessage", content=b'{"channel":"U07KENSATO","text":"hi"}', headers=headers
    )
    # Then it is accepted
    assert response.json()["ok"] is True


async def test_chat_update_replaces_a_posted_message(slack: httpx.AsyncClient) -> None:
    # Given a posted message
    posted = (await post_message(slack, {"channel": "U07KENSATO", "text": "New lead"})).json()
    # When it is updated
    response = await slack.post(
        "/api/chat.update",
        json={"channel": "U07KENSATO", "ts": posted["ts"], "text": "Accepted by Ken"},
        headers=AUTH,
    )
    # Then the update succeeds and the list shows the new text under the same ts
    assert response.json()["ok"] is True
    assert [(m["ts"], m["text"]) for m in await listed(slack)] == [(posted["ts"], "Accepted by Ken")]


async def test_chat_update_of_an_unknown_ts_is_message_not_found(slack: httpx.AsyncClient) -> None:
    # Given no message with that ts
    body = {"channel": "U07KENSATO", "ts": "1.000001", "text": "Accepted"}
    # When it is updated
    response = await slack.post("/api/chat.update", json=body, headers=AUTH)
    # Then Slack's error is returned
    assert response.json() == {"ok": False, "error": "message_not_found"}


# --- refusals, with Slack's error strings ---


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "not_authed"),
        ({"Authorization": "Bearer xoxb-wrong"}, "invalid_auth"),
        ({"Authorization": f"Basic {TOKEN}"}, "invalid_auth"),
    ],
)
async def test_missing_or_wrong_token_is_refused(slack: httpx.AsyncClient, headers: dict[str, str], error: str) -> None:
    # Given a valid message with bad credentials
    body = {"channel": "U07KENSATO", "text": "New lead"}
    # When it is posted
    response = await post_message(slack, body, headers=headers)
    # Then Slack's auth error comes back with HTTP 200, and nothing is kept
    assert response.status_code == 200
    assert response.json() == {"ok": False, "error": error}
    assert await listed(slack) == []


@pytest.mark.parametrize("channel", [None, "", "#leads", "u07lower", "X0NOPE", "U1"])
async def test_a_bad_channel_is_channel_not_found(slack: httpx.AsyncClient, channel: str | None) -> None:
    # Given a message to a missing or malformed channel id
    body: dict[str, Any] = {"text": "New lead"} if channel is None else {"channel": channel, "text": "New lead"}
    # When it is posted
    response = await post_message(slack, body)
    # Then Slack's error string comes back
    assert response.json()["error"] == "channel_not_found"


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"blocks": []}])
async def test_a_message_without_text_or_blocks_is_no_text(slack: httpx.AsyncClient, body: dict[str, Any]) -> None:
    # Given a message with nothing to show
    # When it is posted
    response = await post_message(slack, {"channel": "U07KENSATO", **body})
    # Then Slack's error string comes back
    assert response.json()["error"] == "no_text"


@pytest.mark.parametrize(
    "blocks",
    [
        "not json",
        [{"text": "no type"}],
        ["a string"],
        [{"type": "no_such_block"}],
        [{"type": "section"}],
        [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        [
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x" * 80}}],
            }
        ],
        [SECTION] * 51,
        [{"type": "section", "text": "a bare string"}],
        [{"type": "actions", "elements": [{"type": "no_such_element"}]}],
        [{"type": "section", "text": {"type": "mrkdwn", "text": "ok"}, "no_such_field": 1}],
    ],
    ids=[
        "not-json",
        "no-type",
        "not-object",
        "unknown",
        "empty-section",
        "long-header",
        "long-text",
        "long-button",
        "too-many",
        "bare-string-text",
        "unknown-element",
        "unknown-field",
    ],
)
async def test_invalid_blocks_are_refused(slack: httpx.AsyncClient, blocks: Any) -> None:
    # Given a message whose blocks Slack would not render
    # When it is posted
    response = await post_message(slack, {"channel": "U07KENSATO", "text": "fallback", "blocks": blocks})
    # Then it is refused as invalid blocks and not kept
    assert response.json()["error"] in {"invalid_blocks", "invalid_blocks_format"}
    assert await listed(slack) == []


async def test_a_non_json_body_is_refused_as_the_wrong_post_type(slack: httpx.AsyncClient) -> None:
    # Given a form-encoded body
    # When it is posted
    response = await slack.post("/api/chat.postMessage", data={"channel": "U07KENSATO", "text": "hi"}, headers=AUTH)
    # Then it is refused: the notifier must send JSON
    assert response.json()["error"] == "invalid_post_type"


async def test_malformed_json_is_refused(slack: httpx.AsyncClient) -> None:
    # Given a body that is not JSON
    headers = AUTH | {"Content-Type": "application/json"}
    # When it is posted
    response = await slack.post("/api/chat.postMessage", content=b"{nope", headers=headers)
    # Then Slack's error string comes back
    assert response.json()["error"] == "invalid_json"


# --- faults ---


async def test_a_429_fault_answers_with_retry_after_for_count_calls(slack: httpx.AsyncClient) -> None:
    # Given two rate-limited calls queued
    await slack.post("/_standin/faults", json={"mode": "429", "retry_after": 3, "count": 2})
    body = {"channel": "U07KENSATO", "text": "New lead"}
    # When three messages are posted
    responses = [await post_message(slack, body) for _ in range(3)]
    # Then the first two are 429 with Retry-After, the third goes through
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert [r.headers.get("Retry-After") for r in responses[:2]] == ["3", "3"]
    assert responses[0].json() == {"ok": False, "error": "ratelimited"}
    assert responses[2].json()["ok"] is True
    assert len(await listed(slack)) == 1


async def test_a_500_fault_answers_http_500(slack: httpx.AsyncClient) -> None:
    # Given one server error queued
    await slack.post("/_standin/faults", json={"mode": "500", "count": 1})
    # When a message is posted
    response = await post_message(slack, {"channel": "U07KENSATO", "text": "New lead"})
    # Then it fails with HTTP 500 and is not kept
    assert response.status_code == 500
    assert await listed(slack) == []


async def test_an_error_fault_answers_with_that_slack_error(slack: httpx.AsyncClient) -> None:
    # Given a channel_not_found error queued
    await slack.post("/_standin/faults", json={"mode": "error", "error": "channel_not_found", "count": 1})
    # When a valid message is posted
    response = await post_message(slack, {"channel": "U07KENSATO", "text": "New lead"})
    # Then Slack's refusal shape comes back with that error
    assert (response.status_code, response.json()) == (200, {"ok": False, "error": "channel_not_found"})


async def test_a_hang_fault_holds_the_call_past_a_client_timeout(slack: httpx.AsyncClient) -> None:
    # Given one hang of five seconds queued
    await slack.post("/_standin/faults", json={"mode": "hang", "seconds": 5, "count": 1})
    body = {"channel": "U07KENSATO", "text": "New lead"}
    # When a client waits a tenth of a second, then posts again
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(post_message(slack, body), timeout=0.1)
    retry = await asyncio.wait_for(post_message(slack, body), timeout=2)
    # Then the first call timed out and the fault was used up by it
    assert retry.json()["ok"] is True


async def test_deleting_faults_restores_normal_answers(slack: httpx.AsyncClient) -> None:
    # Given a queued fault
    await slack.post("/_standin/faults", json={"mode": "500", "count": 5})
    # When the faults are deleted
    await slack.delete("/_standin/faults")
    # Then the next message is accepted
    response = await post_message(slack, {"channel": "U07KENSATO", "text": "New lead"})
    assert response.json()["ok"] is True


async def test_an_unknown_fault_mode_is_refused(slack: httpx.AsyncClient) -> None:
    # Given a fault the stand-in does not know
    # When it is queued
    response = await slack.post("/_standin/faults", json={"mode": "explode"})
    # Then the request is invalid and nothing is queued
    assert response.status_code == 422
    assert (await slack.get("/_standin/faults")).json() == {"faults": []}


# --- views.open, conversations.open, conversations.history ---


async def _standin_call(method: str, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    state = SlackState()
    transport = httpx.ASGITransport(app=create_slack_app("xoxb-t", state=state))
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as client:
        response = await client.post(f"/api/{method}", headers={"Authorization": "Bearer xoxb-t"}, **kwargs)
    return state, response.json()


async def test_views_open_keeps_a_valid_modal() -> None:
    # Given a modal with an input block
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Reject lead"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            }
        ],
    }
    # When it is opened with a trigger
    state, body = await _standin_call("views.open", json={"trigger_id": "1.2.3", "view": view})
    # Then the stand-in accepts and keeps it
    assert body["ok"] is True, body
    assert state.views[0]["trigger_id"] == "1.2.3"


async def test_views_open_without_a_trigger_is_refused() -> None:
    # Given a modal without a trigger id
    view = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []}
    # When it is opened
    _, body = await _standin_call("views.open", json={"view": view})
    # Then Slack's error comes back
    assert body == {"ok": False, "error": "invalid_trigger_id"}


async def test_input_blocks_are_refused_in_messages() -> None:
    # Given a message holding an input block, which only modals may
    blocks = [
        {
            "type": "input",
            "label": {"type": "plain_text", "text": "x"},
            "element": {"type": "plain_text_input", "action_id": "v"},
        }
    ]
    # When it is posted
    _, body = await _standin_call("chat.postMessage", json={"channel": "C0TEAM", "blocks": blocks})
    # Then it is refused as invalid blocks
    assert body["error"] == "invalid_blocks"


async def test_history_returns_metadata_only_when_asked_and_finds_dm_messages_by_the_users_dm() -> None:
    # Given a message with metadata posted to a user
    state = SlackState()
    transport = httpx.ASGITransport(app=create_slack_app("xoxb-t", state=state))
    auth = {"Authorization": "Bearer xoxb-t"}
    metadata = {"event_type": "leadflow_alert", "event_payload": {"key": "k1"}}
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as client:
        await client.post(
            "/api/chat.postMessage", json={"channel": "U0KEN", "text": "hi", "metadata": metadata}, headers=auth
        )
        # When the bot opens the DM and reads its history, with and without metadata
        dm = (await client.post("/api/conversations.open", data={"users": "U0KEN"}, headers=auth)).json()
        channel = dm["channel"]["id"]
        plain = (await client.post("/api/conversations.history", data={"channel": channel}, headers=auth)).json()
        full = (
            await client.post(
                "/api/conversations.history", data={"channel": channel, "include_all_metadata": "true"}, headers=auth
            )
        ).json()
    # Then the DM holds the message, and its metadata shows only when asked for
    assert channel == "D0KEN"
    assert [m["text"] for m in plain["messages"]] == ["hi"]
    assert "metadata" not in plain["messages"][0]
    assert full["messages"][0]["metadata"] == metadata


async def test_metadata_without_an_event_type_is_refused() -> None:
    # Given message metadata missing its event type
    # When it is posted
    _, body = await _standin_call(
        "chat.postMessage", json={"channel": "C0TEAM", "text": "x", "metadata": {"event_payload": {}}}
    )
    # Then Slack's schema error comes back
    assert body["error"] == "invalid_metadata_schema"


async def test_past_its_limit_the_stand_in_forgets_the_oldest_messages() -> None:
    # Given a stand-in that keeps 10 messages
    app = create_slack_app(TOKEN, state=SlackState(max_messages=10))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://slack.test") as client:
        # When 12 are posted
        for i in range(12):
            response = await post_message(client, {"channel": "U07KENSATO", "text": f"Lead {i}"})
            assert response.json()["ok"] is True
        # Then the latest are kept, in order: the 11th trimmed the list to 9 at once, the 12th made it 10
        texts = [m["text"] for m in await listed(client)]
    assert texts == [f"Lead {i}" for i in range(2, 12)]
