"""Exactly once as the rep sees it: the notifier's handler in process, with the real database, the Slack
stand-in and a real SMTP server, and crashes injected between record, send and mark."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import ConsumerRecord
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow import stack
from leadflow.standins.slack import SlackState, create_slack_app
from leadflow.standins.smtp import MailSink, start_smtp_sink
from services.notifier import consumer as consumer_module
from services.notifier import repository
from services.notifier.consumer import Incoming, NotifierHandler
from services.notifier.domain import EmailMessage, SlackMessage
from services.notifier.models import SCHEMA
from services.notifier.senders import Mailer, SlackClient
from services.notifier.settings import default_consumer_groups
from shared.db import create_engine, migrate, session_factory
from shared.events import CloudEvent, CloudEventType, DeadLetter, RoutingDecision, SlaEvent, SlaEventKind, Topics
from tests.conftest import StackUrls
from tests.notifier.factories import a_decision, a_manager, a_rep, an_sla_event

pytestmark = pytest.mark.integration
TOKEN = "xoxb-test"
MIGRATIONS = Path(__file__).parents[2] / "services" / "notifier" / "migrations"


class SimulatedCrash(Exception):
    """The process dying at a chosen point: nothing after it runs."""


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, MailSink]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = MailSink()
    controller = start_smtp_sink("127.0.0.1", port, sink)
    try:
        yield port, sink
    finally:
        controller.stop()


@pytest.fixture
async def sessions(stack_urls: StackUrls) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(stack.database_url(stack.layout_for_tests()))
    await migrate(engine, MIGRATIONS, SCHEMA)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def slack_state() -> SlackState:
    return SlackState()


@pytest.fixture
async def slack_http(slack_state: SlackState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_slack_app(TOKEN, state=slack_state))
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as client:
        yield client


async def _no_wait(_: float) -> None:
    return None


class CrashingSlack(SlackClient):
    """Dies before posting, or after Slack accepted the post but before anyone heard back."""

    def __init__(self, *args: Any, crash: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash = crash

    async def post_message(self, message: SlackMessage, metadata: dict[str, object] | None = None) -> str:
        if self.crash == "before_send":
            raise SimulatedCrash
        await super().post_message(message, metadata)
        raise SimulatedCrash


class CrashingMailer(Mailer):
    def __init__(self, *args: Any, crash: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash = crash

    async def send(self, message: EmailMessage, idempotency_key: str) -> str:
        if self.crash == "before_send":
            raise SimulatedCrash
        await super().send(message, idempotency_key)
        raise SimulatedCrash


def handler(
    sessions: async_sessionmaker[AsyncSession], http: httpx.AsyncClient, smtp_port: int, crash: str | None = None
) -> NotifierHandler:
    slack_args: dict[str, Any] = {"sleep": _no_wait}
    if crash is None:
        slack = SlackClient(http, "http://slack.test/api", TOKEN, **slack_args)
        mailer = Mailer("127.0.0.1", smtp_port, "LeadFlow <leadflow@test.example>")
    else:
        slack = CrashingSlack(http, "http://slack.test/api", TOKEN, crash=crash, **slack_args)
        mailer = CrashingMailer("127.0.0.1", smtp_port, "LeadFlow <leadflow@test.example>", crash=crash)
    return NotifierHandler(sessions, slack, mailer)


def a_record(cloud: CloudEvent[Any], topic: str, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    value = cloud.to_bytes()
    key = str(cloud.subject or "").encode()
    return ConsumerRecord(topic, 0, offset, 0, 0, key, value, None, len(key), len(value), [])


def decision_item(decision: RoutingDecision) -> tuple[ConsumerRecord[bytes, bytes], Incoming]:
    cloud = CloudEvent[RoutingDecision](
        id=decision.decision_id, source="/test", type=CloudEventType.ROUTING_DECISION, subject=decision.lead_id,
        time=datetime.now(UTC), data=decision,
    )  # fmt: skip
    return a_record(cloud, Topics.DECISIONS), cloud


def sla_item(event: SlaEvent) -> tuple[ConsumerRecord[bytes, bytes], Incoming]:
    cloud = CloudEvent[SlaEvent](
        id=event.sla_event_id, source="/test", type=CloudEventType.SLA_EVENT, subject=event.lead_id,
        time=datetime.now(UTC), data=event,
    )  # fmt: skip
    return a_record(cloud, Topics.SLA), cloud


def fresh_decision(**overrides: Any) -> RoutingDecision:
    now = datetime.now(UTC)
    return a_decision(now=now, owner=overrides.pop("owner", None) or a_rep(), **overrides)


def slack_for(state: SlackState, decision_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in state.messages
        if m.get("metadata") and str(m["metadata"]["event_payload"]["key"]).startswith(decision_id)
    ]


def mails_for(sink: MailSink, decision_id: str) -> list[Any]:
    return [m for m in sink.messages if decision_id in (m.text or "")]


async def statuses(sessions: async_sessionmaker[AsyncSession], lead_id: str, decision_id: str) -> dict[str, str]:
    async with sessions() as session:
        rows = await repository.of_lead(session, lead_id)
    return {r.medium: r.status for r in rows if r.decision_id == decision_id}


async def test_a_decision_is_sent_once_on_slack_and_by_email_and_a_redelivery_sends_nothing(
    sessions: async_sessionmaker[AsyncSession], slack_http: httpx.AsyncClient, slack_state: SlackState,
    smtp: tuple[int, MailSink],
) -> None:  # fmt: skip
    # Given a routed lead
    decision = fresh_decision()
    item = decision_item(decision)
    notifier = handler(sessions, slack_http, smtp[0])
    # When its decision is applied, then delivered again by Kafka
    await notifier.apply([item])
    await notifier.apply([item])
    # Then the rep has one Slack message and one email, both marked sent
    assert len(slack_for(slack_state, decision.decision_id)) == 1
    assert len(mails_for(smtp[1], decision.decision_id)) == 1
    assert await statuses(sessions, decision.lead_id, decision.decision_id) == {"slack": "sent", "email": "sent"}


async def test_the_same_decision_twice_in_one_batch_is_sent_once(
    sessions: async_sessionmaker[AsyncSession], slack_http: httpx.AsyncClient, slack_state: SlackState,
    smtp: tuple[int, MailSink],
) -> None:  # fmt: skip
    # Given one decision delivered twice in the same batch (a producer retry after a router crash did this)
    decision = fresh_decision()
    notifier = handler(sessions, slack_http, smtp[0])
    # When the batch is applied
    await notifier.apply([decision_item(decision), decision_item(decision)])
    # Then the rep still gets one Slack message and one email
    assert len(slack_for(slack_state, decision.decision_id)) == 1
    assert len(mails_for(smtp[1], decision.decision_id)) == 1


async def test_a_crash_between_record_and_send_loses_nothing(
    sessions: async_sessionmaker[AsyncSession], slack_http: httpx.AsyncClient, slack_state: SlackState,
    smtp: tuple[int, MailSink],
) -> None:  # fmt: skip
    # Given a decision recorded as owed, then a crash before anything was sent
    decision = fresh_decision()
    item = decision_item(decision)
    with pytest.raises(SimulatedCrash):
        await handler(sessions, slack_http, smtp[0], crash="before_send").apply([item])
    assert slack_for(slack_state, decision.decision_id) == []
    # When the restarted notifier receives the redelivered decision
    await handler(sessions, slack_http, smtp[0]).apply([item])
    # Then both messages go out, once each
    assert len(slack_for(slack_state, decision.decision_id)) == 1
    assert len(mails_for(smtp[1], decision.decision_id)) == 1
    assert await statuses(sessions, decision.lead_id, decision.decision_id) == {"slack": "sent", "email": "sent"}


async def test_a_crash_between_send_and_mark_does_not_post_a_second_slack_message(
    sessions: async_sessionmaker[AsyncSession], slack_http: httpx.AsyncClient, slack_state: SlackState,
    smtp: tuple[int, MailSink],
) -> None:  # fmt: skip
    # Given a decision whose Slack message and email were accepted, then a crash before they were marked sent
    decision = fresh_decision()
    item = decision_item(decision)
    with pytest.raises(SimulatedCrash):
        await handler(sessions, slack_http, smtp[0], crash="after_send").apply([item])
    assert len(slack_for(slack_state, decision.decision_id)) == 1
    # When the restarted notifier receives the redelivered decision
    await handler(sessions, slack_http, smtp[0]).apply([item])
    # Then Slack still holds one message, found and recorded as the one sent
    messages = slack_for(slack_state, decision.decision_id)
    assert len(messages) == 1
    assert await statuses(sessions, decision.lead_id, decision.decision_id) == {"slack": "sent", "email": "sent"}
    async with sessions() as session:
        rows = await repository.of_lead(session, decision.lead_id)
    (slack_row,) = [r for r in rows if r.decision_id == decision.decision_id and r.medium == "slack"]
    assert slack_row.provider_ref == f"D07KENSATO:{messages[0]['ts']}"


async def test_an_email_resent_after_a_crash_keeps_its_message_id_so_mail_clients_show_it_once(
    sessions: async_sessionmaker[AsyncSession], slack_http: httpx.AsyncClient, smtp: tuple[int, MailSink],
) -> None:  # fmt: skip
    # Given an email the SMTP server accepted, then a crash before it was marked sent
    decision = fresh_decision()
    item = decision_item(decision)
    with pytest.raises(SimulatedCrash):
        await handler(sessions, slack_http, smtp[0], crash="after_send").apply([item])
    # When the restarted notifier sends it again (SMTP cannot be asked what it already has)
    await handler(sessions, slack_http, smtp[0]).apply([item])
    # Then both copies carry one Message-ID, which mail clients collapse into one message
    mails = mails_for(smtp[1], decision.decision_id)
    assert len(mails) == 2
    assert mails[0].message_id == mails[1].message_id != ""


async def test_a_slack_channel_that_does_not_exist_is_dead_lettered_and_the_email_still_goes_out(
    sessions: async_sessionmaker[AsyncSession], slack_http: httpx.AsyncClient, slack_state: SlackState,
    smtp: tuple[int, MailSink],
) -> None:  # fmt: skip
    # Given a rep whose Slack id no longer exists
    decision = fresh_decision(owner=a_rep(slack_id="U0GONE", email=f"rep-{uuid.uuid4().hex[:6]}@seller.example"))
    slack_state.faults.clear()
    from leadflow.standins.slack import FaultSpec

    slack_state.faults.append(FaultSpec(mode="error", error="channel_not_found"))
    # When the decision is applied
    dead = await handler(sessions, slack_http, smtp[0]).apply([decision_item(decision)])
    # Then the record is dead-lettered with Slack's reason, the Slack row failed, and the email was sent
    (letter,) = dead
    assert letter.topic == Topics.DEAD_LETTER
    payload = DeadLetter.model_validate(orjson.loads(letter.value)["data"])
    assert payload.topic == Topics.DECISIONS
    assert "channel_not_found" in payload.error
    assert await statuses(sessions, decision.lead_id, decision.decision_id) == {"slack": "failed", "email": "sent"}
    assert len(mails_for(smtp[1], decision.decision_id)) == 1


async def test_an_sla_breach_escalates_to_the_manager_and_the_team_channel_once(
    sessions: async_sessionmaker[AsyncSession], slack_http: httpx.AsyncClient, slack_state: SlackState,
    smtp: tuple[int, MailSink],
) -> None:  # fmt: skip
    # Given a window that closed ten minutes ago with no contact logged
    event = an_sla_event(
        SlaEventKind.BREACH, escalate_to=a_manager(), team_channel="C0SALESTEAM", late_by=timedelta(minutes=10),
        now=datetime.now(UTC),
    )  # fmt: skip
    item = sla_item(event)
    notifier = handler(sessions, slack_http, smtp[0])
    # When the breach is applied, and delivered again
    await notifier.apply([item])
    await notifier.apply([item])
    # Then the manager and the team channel each have one message, and the manager one email
    messages = slack_for(slack_state, event.sla_event_id)
    assert sorted(m["channel"] for m in messages) == ["C0SALESTEAM", "U01BOSS"]
    assert all("10 minutes late" in m["text"] or "10 minutes late" in str(m["blocks"]) for m in messages)
    mails = [m for m in smtp[1].messages if event.decision_id in (m.text or "")]
    assert [m.rcpt_tos for m in mails] == [("aiko.tanaka@seller.example",)]


async def test_a_database_away_when_the_sends_are_recorded_is_waited_for_and_nothing_is_sent_twice(
    sessions: async_sessionmaker[AsyncSession], slack_http: httpx.AsyncClient, slack_state: SlackState,
    smtp: tuple[int, MailSink], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Given a database that refuses the first two attempts to record the sent messages (restarting, as in the
    # chaos run where that made the batch fail and every email of it go out again)
    decision = fresh_decision()
    real_mark_sent = repository.mark_sent
    refused: list[int] = []

    async def flaky_mark_sent(session: AsyncSession, refs: Any, now: datetime) -> None:
        if len(refused) < 2:
            refused.append(len(refs))
            raise OperationalError("UPDATE notifications", {}, ConnectionRefusedError("database restarting"))
        await real_mark_sent(session, refs, now)

    monkeypatch.setattr(repository, "mark_sent", flaky_mark_sent)
    monkeypatch.setattr(consumer_module, "MARK_RETRY_FIRST_S", 0.01)
    # When the decision is applied
    await handler(sessions, slack_http, smtp[0]).apply([decision_item(decision)])
    # Then the marks were retried until recorded, and the rep got each message once
    assert len(refused) == 2
    assert await statuses(sessions, decision.lead_id, decision.decision_id) == {"slack": "sent", "email": "sent"}
    assert len(slack_for(slack_state, decision.decision_id)) == 1
    assert len(mails_for(smtp[1], decision.decision_id)) == 1


class StuckMailer(Mailer):
    """A mail server that takes the message and never answers (until released)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release = asyncio.Event()

    async def send(self, message: EmailMessage, idempotency_key: str) -> str:
        await self.release.wait()
        return await super().send(message, idempotency_key)


async def test_slack_and_email_are_delivered_by_loops_of_their_own_and_a_stuck_mail_server_holds_no_alert(
    sessions: async_sessionmaker[AsyncSession], slack_http: httpx.AsyncClient, slack_state: SlackState,
    smtp: tuple[int, MailSink],
) -> None:  # fmt: skip
    # Given the service's two loops on the decisions topic, one per medium, and a mail server that hangs
    mailer = StuckMailer("127.0.0.1", smtp[0], "LeadFlow <leadflow@test.example>")
    notifier = NotifierHandler(
        sessions, SlackClient(slack_http, "http://slack.test/api", TOKEN, sleep=_no_wait), mailer
    )
    deliveries = {frozenset(media): notifier.delivering(media) for _, _, media in default_consumer_groups()}
    assert set(deliveries) == {frozenset({"slack"}), frozenset({"email"})}
    first, second = fresh_decision(), fresh_decision()
    # When the email loop is stuck on the first decision's email
    emailing = asyncio.create_task(deliveries[frozenset({"email"})]([decision_item(first)]))
    await asyncio.sleep(0.1)
    assert not emailing.done()
    # Then the Slack loop still alerts both reps, and records only Slack messages as owed
    await deliveries[frozenset({"slack"})]([decision_item(first)])
    await deliveries[frozenset({"slack"})]([decision_item(second)])
    assert len(slack_for(slack_state, first.decision_id)) == 1
    assert len(slack_for(slack_state, second.decision_id)) == 1
    assert await statuses(sessions, second.lead_id, second.decision_id) == {"slack": "sent"}
    assert mails_for(smtp[1], first.decision_id) == []
    # And once the mail server answers, the email loop sends its email and nothing on Slack again
    mailer.release.set()
    await asyncio.wait_for(emailing, timeout=10)
    assert len(mails_for(smtp[1], first.decision_id)) == 1
    assert len(slack_for(slack_state, first.decision_id)) == 1
    assert await statuses(sessions, first.lead_id, first.decision_id) == {"slack": "sent", "email": "sent"}
