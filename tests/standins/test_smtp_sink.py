"""The SMTP sink receives real SMTP and lists what it parsed, over the same HTTP app."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
import pytest
from aiosmtpd.controller import Controller

from leadflow.standins import create_standins_app
from leadflow.standins.smtp import MailSink, start_smtp_sink


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[Controller]:
    controller = start_smtp_sink("127.0.0.1", free_port())
    yield controller
    controller.stop()


@pytest.fixture
async def http(smtp: Controller) -> AsyncIterator[httpx.AsyncClient]:
    app = create_standins_app("xoxb-test", smtp.handler)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standins.test") as c:
        yield c


def an_alert(to: str = "ken.sato@seller.example") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "LeadFlow <leadflow@seller.example>"
    message["To"] = to
    message["Subject"] = "[Rank A] デモ依頼: Jane Doe"
    message.set_content("Call within 1 hour — by 11:05 JST (Tue 24 Nov)")
    message.add_alternative("<p><strong>Call within 1 hour</strong> &amp; log it</p>", subtype="html")
    return message


async def send(controller: Controller, message: EmailMessage) -> None:
    await aiosmtplib.send(message, hostname="127.0.0.1", port=controller.port, timeout=5)


async def listed(http: httpx.AsyncClient, to: str | None = None) -> list[dict[str, Any]]:
    response = await http.get("/_standin/mail/messages", params={"to": to} if to else {})
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


async def test_a_sent_message_is_received_with_both_parts(smtp: Controller, http: httpx.AsyncClient) -> None:
    # Given an alert with a text and an HTML part
    # When it is sent over SMTP
    await send(smtp, an_alert())
    # Then the sink lists it, parsed
    (mail,) = await listed(http)
    assert mail["to_header"] == "ken.sato@seller.example"
    assert mail["rcpt_tos"] == ["ken.sato@seller.example"]
    assert mail["subject"] == "[Rank A] デモ依頼: Jane Doe"
    assert mail["text"].strip() == "Call within 1 hour — by 11:05 JST (Tue 24 Nov)"
    assert mail["html"].strip() == "<p><strong>Call within 1 hour</strong> &amp; log it</p>"


async def test_messages_can_be_filtered_by_recipient(smtp: Controller, http: httpx.AsyncClient) -> None:
    # Given alerts to two reps
    await send(smtp, an_alert("ken.sato@seller.example"))
    await send(smtp, an_alert("Aiko Mori <aiko.mori@seller.example>"))
    # When one recipient is asked for, in another case
    messages = await listed(http, to="AIKO.MORI@seller.example")
    # Then only that rep's alert comes back
    assert [m["rcpt_tos"] for m in messages] == [["aiko.mori@seller.example"]]


async def test_the_inbox_page_shows_received_mail_escaped(smtp: Controller, http: httpx.AsyncClient) -> None:
    # Given an alert whose subject carries markup
    alert = an_alert()
    del alert["Subject"]
    alert["Subject"] = "<script>alert(1)</script>"
    await send(smtp, alert)
    # When the inbox page is opened
    page = (await http.get("/")).text
    # Then the subject is shown as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page


async def test_the_inbox_page_lists_newest_first(smtp: Controller, http: httpx.AsyncClient) -> None:
    # Given two alerts sent one after the other
    first, second = an_alert(), an_alert()
    for alert, subject in ((first, "first alert"), (second, "second alert")):
        del alert["Subject"]
        alert["Subject"] = subject
        await send(smtp, alert)
    # When the inbox page is opened
    page = (await http.get("/")).text
    # Then the later one is shown above the earlier one
    assert page.index("second alert") < page.index("first alert")


async def test_health_check_counts_what_was_received(smtp: Controller, http: httpx.AsyncClient) -> None:
    # Given one email received
    await send(smtp, an_alert())
    # When the health check is read
    health = (await http.get("/healthz")).json()
    # Then it is up and counts the email
    assert health == {"ok": True, "slack_messages": 0, "emails": 1}


def test_a_sink_handler_can_be_shared_with_the_http_app() -> None:
    # Given a sink created first
    sink = MailSink()
    # When a controller is started with it
    controller = start_smtp_sink("127.0.0.1", free_port(), sink)
    try:
        # Then the controller feeds that very sink
        assert controller.handler is sink
    finally:
        controller.stop()


async def test_concurrently_sent_mail_is_all_kept(smtp: Controller) -> None:
    # Given the SMTP server runs on its own thread
    # When several alerts are sent concurrently
    await asyncio.gather(*(send(smtp, an_alert(f"rep{i}@seller.example")) for i in range(5)))
    # Then every one of them was kept
    assert sorted(m.rcpt_tos[0] for m in smtp.handler.messages) == [f"rep{i}@seller.example" for i in range(5)]


async def test_past_its_limit_the_sink_forgets_the_oldest_mails_parsed_or_not() -> None:
    # Given a sink that keeps 10 mails, 4 of them already read (parsed) before more arrive
    sink = MailSink(max_mails=10)
    controller = start_smtp_sink("127.0.0.1", free_port(), sink)
    try:
        for i in range(4):
            await send(controller, an_alert(to=f"rep{i}@seller.example"))
        assert [m.rcpt_tos for m in sink.messages] == [(f"rep{i}@seller.example",) for i in range(4)]
        # When 8 more arrive
        for i in range(4, 12):
            await send(controller, an_alert(to=f"rep{i}@seller.example"))
        # Then the latest 10 are listed in arrival order (the 11th trimmed to 9), each parsed from its own bytes
        mails = sink.messages
    finally:
        controller.stop()
    assert [m.rcpt_tos[0] for m in mails] == [f"rep{i}@seller.example" for i in range(2, 12)]
    assert [m.to_header for m in mails] == [f"rep{i}@seller.example" for i in range(2, 12)]
    assert all(m.subject == "[Rank A] デモ依頼: Jane Doe" for m in mails)
