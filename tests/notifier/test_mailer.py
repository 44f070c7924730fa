"""The mailer keeps SMTP connections open between messages and recovers when the server dropped them."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from leadflow.standins.smtp import MailSink, start_smtp_sink
from services.notifier.domain import EmailMessage
from services.notifier.senders import Mailer


class PeerSink(MailSink):
    """Also notes which client connection (its address and port) each message came over."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[object] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def sink(port: int) -> Iterator[PeerSink]:
    sink = PeerSink()
    controller = start_smtp_sink("127.0.0.1", port, sink)
    yield sink
    controller.stop()


def _mail(n: int) -> EmailMessage:
    return EmailMessage(to=f"rep{n}@example.com", subject=f"Lead {n}", text=f"text {n}", html=f"<p>html {n}</p>")


async def test_consecutive_messages_share_one_smtp_connection(sink: PeerSink, port: int) -> None:
    mailer = Mailer("127.0.0.1", port, "LeadFlow <leadflow@test.example>")
    try:
        ids = [await mailer.send(_mail(n), f"key-{n}") for n in range(3)]
    finally:
        await mailer.close()

    assert [m.subject for m in sink.messages] == ["Lead 0", "Lead 1", "Lead 2"]
    assert [m.message_id for m in sink.messages] == ids
    assert len(set(sink.peers)) == 1


async def test_a_kept_connection_the_server_dropped_is_replaced_and_the_message_sent_once(port: int) -> None:
    first = PeerSink()
    controller = start_smtp_sink("127.0.0.1", port, first)
    mailer = Mailer("127.0.0.1", port, "LeadFlow <leadflow@test.example>")
    try:
        await mailer.send(_mail(1), "key-1")
        controller.stop()  # the server goes away, closing the kept connection
        second = PeerSink()
        controller = start_smtp_sink("127.0.0.1", port, second)

        await mailer.send(_mail(2), "key-2")
    finally:
        await mailer.close()
        controller.stop()

    assert [m.subject for m in first.messages] == ["Lead 1"]
    assert [m.subject for m in second.messages] == ["Lead 2"]


async def test_concurrent_messages_share_a_bounded_number_of_connections(sink: PeerSink, port: int) -> None:
    # A batch owes many emails at once: they queue for a few kept connections instead of one connection each.
    mailer = Mailer("127.0.0.1", port, "LeadFlow <leadflow@test.example>", max_connections=3)
    try:
        ids = await asyncio.gather(*(mailer.send(_mail(n), f"key-{n}") for n in range(30)))
    finally:
        await mailer.close()

    assert sorted(m.message_id for m in sink.messages) == sorted(ids)
    assert len(set(ids)) == 30
    assert 1 <= len(set(sink.peers)) <= 3


async def test_headers_that_are_not_ascii_arrive_as_written(sink: PeerSink, port: int) -> None:
    subject = (
        "新しいリード: 佐藤 太郎 (株式会社サンプル) — ランクA、1時間以内にご連絡ください。" * 2
    )  # folded over lines
    mailer = Mailer("127.0.0.1", port, "リードフロー <leadflow@test.example>")
    message = EmailMessage(
        to="佐藤 太郎 <rep1@example.com>", subject=subject, text="本文です", html="<p>本文です</p>",
        reply_to="営業部長 <manager@example.com>",
    )  # fmt: skip
    try:
        message_id = await mailer.send(message, "key-ja")
    finally:
        await mailer.close()

    [received] = sink.messages
    assert received.subject == subject
    assert received.from_header == "リードフロー <leadflow@test.example>"
    assert received.to_header == "佐藤 太郎 <rep1@example.com>"
    assert received.reply_to == "営業部長 <manager@example.com>"
    assert received.rcpt_tos == ("rep1@example.com",)
    assert (received.text or "").strip() == "本文です"
    assert (received.html or "").strip() == "<p>本文です</p>"
    assert received.message_id == message_id


@pytest.mark.parametrize(
    "subject", ["New lead: Acme\r\nBcc: someone@evil.example", "新しいリード: 佐藤\nBcc: someone@evil.example"]
)
async def test_a_line_break_in_a_header_value_never_starts_a_header(sink: PeerSink, port: int, subject: str) -> None:
    mailer = Mailer("127.0.0.1", port, "LeadFlow <leadflow@test.example>")
    message = EmailMessage(to="rep1@example.com", subject=subject, text="t", html="<p>t</p>")
    try:
        await mailer.send(message, "key-crlf")
    finally:
        await mailer.close()

    [received] = sink.messages
    assert received.rcpt_tos == ("rep1@example.com",)
    assert "\n" not in received.subject
    assert "\r" not in received.subject
    assert received.subject.endswith("Bcc: someone@evil.example")  # kept as text of the subject, not a header
