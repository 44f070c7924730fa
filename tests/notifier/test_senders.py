"""The Slack client against the Slack stand-in (in process): rate limits, retries, timeouts, refusals, pacing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from leadflow.standins.slack import FaultSpec, SlackState, create_slack_app
from services.notifier.domain import SlackMessage
from services.notifier.senders import ChannelPacer, PermanentSendError, SlackClient, TransientSendError, slack_http

TOKEN = "xoxb-test"
MESSAGE = SlackMessage(channel="U07KENSATO", text="A lead for you", blocks=[])
METADATA: dict[str, object] = {"event_type": "leadflow_alert", "event_payload": {"key": "dec-1:assignment:slack"}}


@dataclass
class Sleeps:
    """Records the waits the client asks for instead of waiting."""

    requested: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.requested.append(seconds)


class LosesResponses(httpx.AsyncBaseTransport):
    """Forwards to the stand-in, then loses the first ``n`` responses of one method, as a timeout would."""

    def __init__(self, inner: httpx.AsyncBaseTransport, method: str, n: int, error: type[Exception]) -> None:
        self.inner, self.method, self.left, self.error = inner, method, n, error

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.left and request.url.path.endswith(self.method) and self.error is httpx.ConnectTimeout:
            self.left -= 1
            raise httpx.ConnectTimeout("never connected", request=request)
        response = await self.inner.handle_async_request(request)
        if self.left and request.url.path.endswith(self.method):
            self.left -= 1
            await response.aread()
            raise self.error("response lost", request=request)
        return response


@pytest.fixture
def state() -> SlackState:
    return SlackState()


@pytest.fixture
async def http(state: SlackState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_slack_app(TOKEN, state=state))
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as client:
        yield client


def a_client(http: httpx.AsyncClient, sleeps: Sleeps, **overrides: Any) -> SlackClient:
    return SlackClient(http, "http://slack.test/api", overrides.pop("token", TOKEN), sleep=sleeps, **overrides)


async def test_a_429_waits_the_retry_after_slack_asked_for_then_posts(
    http: httpx.AsyncClient, state: SlackState
) -> None:
    # Given Slack answering 429 with Retry-After: 7 once
    state.faults.append(FaultSpec(mode="429", retry_after=7, count=1))
    sleeps = Sleeps()
    # When a message is posted
    ref = await a_client(http, sleeps).post_message(MESSAGE, metadata=METADATA)
    # Then the client waited exactly what Slack asked before trying again, and the message is in
    assert sleeps.requested == [7.0]
    assert len(state.messages) == 1
    assert ref == f"U07KENSATO:{state.messages[0]['ts']}"


async def test_server_errors_are_retried_with_growing_jittered_backoff(
    http: httpx.AsyncClient, state: SlackState
) -> None:
    # Given Slack failing with HTTP 500 three times
    state.faults.append(FaultSpec(mode="500", count=3))
    sleeps = Sleeps()
    # When a message is posted
    await a_client(http, sleeps, backoff_s=1.0).post_message(MESSAGE)
    # Then it was retried after each, each wait within its jitter band and the bands growing
    assert len(sleeps.requested) == 3
    for wait, base in zip(sleeps.requested, (1.0, 2.0, 4.0), strict=True):
        assert 0.5 * base <= wait <= 1.5 * base
    assert len(state.messages) == 1


async def test_giving_up_on_a_transient_fault_raises_transient_so_the_batch_is_retried(
    http: httpx.AsyncClient, state: SlackState
) -> None:
    # Given Slack failing with HTTP 503 more often than the client tries
    state.faults.append(FaultSpec(mode="503", count=10))
    # When a message is posted
    # Then a transient error is raised, nothing posted
    with pytest.raises(TransientSendError, match="HTTP 503"):
        await a_client(http, Sleeps(), max_attempts=3).post_message(MESSAGE)
    assert state.messages == []


@pytest.mark.parametrize("error", ["channel_not_found", "invalid_auth"])
async def test_a_permanent_refusal_is_not_retried(http: httpx.AsyncClient, state: SlackState, error: str) -> None:
    # Given Slack refusing the channel or the token
    state.faults.append(FaultSpec(mode="error", error=error, count=1))
    sleeps = Sleeps()
    # When a message is posted
    # Then a permanent error names Slack's reason, without a single retry
    with pytest.raises(PermanentSendError, match=error):
        await a_client(http, sleeps).post_message(MESSAGE)
    assert sleeps.requested == []


async def test_a_wrong_token_is_refused_as_invalid_auth(http: httpx.AsyncClient) -> None:
    # Given a client with a token the workspace does not know
    # When it posts
    # Then Slack's invalid_auth is a permanent error
    with pytest.raises(PermanentSendError, match="invalid_auth"):
        await a_client(http, Sleeps(), token="xoxb-wrong").post_message(MESSAGE)


async def test_a_timed_out_post_that_reached_slack_is_found_instead_of_posted_again(state: SlackState) -> None:
    # Given a post whose response is lost after Slack accepted it (a read timeout)
    inner = httpx.ASGITransport(app=create_slack_app(TOKEN, state=state))
    transport = LosesResponses(inner, "chat.postMessage", 1, httpx.ReadTimeout)
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as http:
        # When the client retries
        ref = await a_client(http, Sleeps()).post_message(MESSAGE, metadata=METADATA)
    # Then it finds its message by metadata and does not post a second one
    assert len(state.messages) == 1
    assert ref == f"D07KENSATO:{state.messages[0]['ts']}"


async def test_a_post_that_never_connected_is_simply_sent_again(state: SlackState) -> None:
    # Given a first attempt that could not connect
    inner = httpx.ASGITransport(app=create_slack_app(TOKEN, state=state))
    transport = LosesResponses(inner, "chat.postMessage", 1, httpx.ConnectTimeout)
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as http:
        # When the client retries
        await a_client(http, Sleeps()).post_message(MESSAGE, metadata=METADATA)
    # Then the message is posted once
    assert len(state.messages) == 1


async def test_a_posted_message_is_found_by_its_key_in_the_users_dm(http: httpx.AsyncClient, state: SlackState) -> None:
    # Given a message posted to a user with our metadata
    client = a_client(http, Sleeps())
    await client.post_message(MESSAGE, metadata=METADATA)
    since = datetime(2020, 1, 1, tzinfo=UTC)
    # When it is looked for by key, and another key is looked for
    found = await client.find_posted("U07KENSATO", "leadflow_alert", "dec-1:assignment:slack", since)
    missing = await client.find_posted("U07KENSATO", "leadflow_alert", "dec-2:assignment:slack", since)
    # Then the first is found in the DM and the second is not
    assert found == f"D07KENSATO:{state.messages[0]['ts']}"
    assert missing is None


async def test_finding_a_message_pages_through_history(http: httpx.AsyncClient, state: SlackState) -> None:
    # Given our message followed by five others in the same DM
    client = a_client(http, Sleeps(), history_page_size=2)
    await client.post_message(MESSAGE, metadata=METADATA)
    for _ in range(5):
        await client.post_message(MESSAGE)
    # When it is looked for, two messages a page
    found = await client.find_posted(
        "U07KENSATO", "leadflow_alert", "dec-1:assignment:slack", datetime(2020, 1, 1, tzinfo=UTC)
    )
    # Then it is found on the third page
    assert found == f"D07KENSATO:{state.messages[0]['ts']}"


# --- pacing ---


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_channel_takes_a_burst_then_one_message_per_interval() -> None:
    # Given a pacer allowing bursts of 3, then one message a second
    clock = FakeClock()
    pacer = ChannelPacer(1.0, 3, clock=clock)
    # When five messages to one channel are reserved at once
    waits = [pacer.reserve("U1") for _ in range(5)]
    # Then the first three go at once, the next wait one and two seconds
    assert waits == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_channels_are_paced_independently() -> None:
    # Given a pacer with no burst and a channel just used
    clock = FakeClock()
    pacer = ChannelPacer(1.0, 1, clock=clock)
    pacer.reserve("U1")
    # When another channel sends
    # Then it does not wait for the first
    assert pacer.reserve("U2") == 0.0
    assert pacer.reserve("U1") == 1.0


def test_a_quiet_channel_earns_its_burst_back() -> None:
    # Given a channel that used its burst
    clock = FakeClock()
    pacer = ChannelPacer(1.0, 2, clock=clock)
    pacer.reserve("U1")
    pacer.reserve("U1")
    # When it stays quiet for two intervals
    clock.now += 2.0
    # Then it may burst again
    assert [pacer.reserve("U1"), pacer.reserve("U1")] == [0.0, 0.0]


def test_failure_reasons_are_a_bounded_set_of_labels() -> None:
    from services.notifier.senders import failure_reason

    assert failure_reason("channel_not_found") == "channel_not_found"
    assert failure_reason("recipient refused: recipient") == "smtp_refused"
    assert failure_reason("something nobody has seen, with an id 12345") == "other"


async def test_concurrent_posts_share_a_bounded_number_of_kept_connections() -> None:
    # A real socket server (connections are what is counted), answering like chat.postMessage.
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        body = b'{"ok": true, "channel": "U07KENSATO", "ts": "1700000000.000100"}'
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                await asyncio.sleep(0.01)  # a slow answer, so the posts overlap
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(body), body))  # fmt: skip
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()  # the client closed its kept connection

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with slack_http(timeout_s=5.0, max_connections=4) as http:
            client = SlackClient(http, f"http://127.0.0.1:{port}/api", TOKEN)
            refs = await asyncio.gather(*(client.post_message(MESSAGE, METADATA) for _ in range(40)))
    finally:
        server.close()

    assert len(refs) == 40
    assert 1 <= connections <= 4
