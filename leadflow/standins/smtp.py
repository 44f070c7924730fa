"""A local SMTP sink: accepts every message, parses it, and lists it over HTTP.

The aiosmtpd controller runs the SMTP server on its own thread; the HTTP app reads the same
:class:`MailSink`, so the list is guarded by a lock. Messages are parsed when read, not when received.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import APIRouter


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the sink understood it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    from_header: str
    to_header: str
    subject: str
    text: str | None
    html: str | None
    received_at: float
    message_id: str = ""
    reply_to: str = ""

    def addressed_to(self, address: str) -> bool:
        """Whether the address is an envelope recipient or named in the To header (case-insensitive)."""
        wanted = address.strip().lower()
        header_addresses = {a.lower() for _, a in getaddresses([self.to_header])}
        return wanted in {r.lower() for r in self.rcpt_tos} or wanted in header_addresses


# Messages kept before the oldest are forgotten (a benchmark sends ~100,000).
MAX_MAILS = 20_000


@dataclass(frozen=True)
class _Arrived:
    """A message as it came off the wire: parsed only when somebody reads the sink."""

    raw: bytes
    mail_from: str
    rcpt_tos: tuple[str, ...]
    received_at: float


class MailSink:
    """aiosmtpd handler that keeps every message it receives (the latest ``max_mails``).

    A message is stored as received and parsed when the list is first read: parsing MIME with the ``email``
    package was ~40 % of the stand-ins' CPU under load, taken from the services sharing the machine, and a real
    mail server does not parse what it relays either.
    """

    def __init__(self, max_mails: int = MAX_MAILS) -> None:
        self.max_mails = max_mails
        self._lock = threading.Lock()
        self._arrived: list[_Arrived] = []
        self._parsed: list[ReceivedMail] = []  # the first len(_parsed) of _arrived, parsed

    @property
    def messages(self) -> list[ReceivedMail]:
        """A snapshot of the received messages, oldest first."""
        with self._lock:
            for arrived in self._arrived[len(self._parsed) :]:
                self._parsed.append(_parse(arrived))
            return list(self._parsed)

    def clear(self) -> None:
        """Forget every received message."""
        with self._lock:
            self._arrived.clear()
            self._parsed.clear()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Keep the message; aiosmtpd calls this once per DATA command."""
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        arrived = _Arrived(raw, envelope.mail_from or "", tuple(envelope.rcpt_tos), time.time())
        with self._lock:
            self._arrived.append(arrived)
            if len(self._arrived) > self.max_mails:
                drop = len(self._arrived) - self.max_mails * 9 // 10
                del self._arrived[:drop]
                del self._parsed[:drop]
        return "250 Message accepted for delivery"


def start_smtp_sink(host: str, port: int, sink: MailSink | None = None) -> Controller:
    """Start an SMTP server on host:port feeding ``sink`` (= ``controller.handler``); ``.stop()`` ends it."""
    # SMTPUTF8 so a Japanese display name or address is accepted as a real server would.
    controller = Controller(sink or MailSink(), hostname=host, port=port, enable_SMTPUTF8=True)
    controller.start()
    return controller


def mail_router(sink: MailSink) -> APIRouter:
    """HTTP read-out of the sink: ``GET /_standin/mail/messages`` (``?to=``) and ``DELETE`` to clear."""
    router = APIRouter()

    @router.get("/_standin/mail/messages")
    async def list_mail(to: str | None = None) -> dict[str, Any]:
        mails = [m for m in sink.messages if to is None or m.addressed_to(to)]
        return {"messages": [asdict(m) for m in mails]}

    @router.delete("/_standin/mail/messages")
    async def clear_mail() -> dict[str, Any]:
        sink.clear()
        return {"ok": True}

    return router


def _parse(arrived: _Arrived) -> ReceivedMail:
    message = message_from_bytes(arrived.raw, policy=policy.default)
    text = html = None
    if isinstance(message, EmailMessage):
        text = _body(message, "plain")
        html = _body(message, "html")
    return ReceivedMail(
        mail_from=arrived.mail_from,
        rcpt_tos=arrived.rcpt_tos,
        from_header=str(message.get("From", "")),
        to_header=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        text=text,
        html=html,
        received_at=arrived.received_at,
        message_id=str(message.get("Message-ID", "")),
        reply_to=str(message.get("Reply-To", "")),
    )


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or not isinstance(part, EmailMessage):
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None
