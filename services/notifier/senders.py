"""Adapters to the outside: Slack's Web API over httpx and SMTP over aiosmtplib.

Slack answers HTTP 200 with ``ok: false`` for most errors; 429 carries ``Retry-After``. Errors that retrying
cannot fix (bad channel, bad token) are permanent; everything else is retried with backoff and jitter.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, parseaddr
from typing import Any

import aiosmtplib
import httpx

from services.notifier.domain import EmailMessage, SlackMessage
from services.notifier.metrics import RATE_LIMITED

PERMANENT_SLACK_ERRORS = frozenset(
    {
        "channel_not_found",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "no_permission",
        "is_archived",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "user_not_found",
        "missing_scope",
        "not_in_channel",
        "cannot_dm_bot",
        "invalid_arguments",
        "invalid_trigger_id",
        "expired_trigger_id",
        "view_too_large",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
    }
)


# Slack's clock and ours may disagree a little: history is searched from this long before the first attempt.
_CLOCK_SKEW = timedelta(minutes=5)


class PermanentSendError(RuntimeError):
    """Retrying cannot help (bad channel, bad token, rejected content)."""


class TransientSendError(ConnectionError):
    """The provider is away or throttling beyond our patience: the batch is retried later."""


class ChannelPacer:
    """Per-channel pacing: ``burst`` messages at once, then one every ``interval_s`` (Slack: ~1/s a channel).

    A generic cell-rate scheme: each channel keeps the time its next message is due; a caller reserves its
    slot before it waits, so concurrent senders to one channel queue up instead of bursting together.
    """

    def __init__(
        self,
        interval_s: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_channels: int = 10_000,
    ) -> None:
        self.interval_s = interval_s
        self.burst = max(1, burst)
        self.clock = clock
        self.sleep = sleep
        self.max_channels = max_channels
        self._due: dict[str, float] = {}

    def reserve(self, channel: str) -> float:
        """Take the channel's next slot; returns how long to wait for it (0 when within the burst)."""
        now = self.clock()
        if len(self._due) > self.max_channels:
            # Channels idle long enough to have a full burst again carry no state worth keeping.
            self._due = {c: due for c, due in self._due.items() if due > now}
        due = max(self._due.get(channel, now), now)
        self._due[channel] = due + self.interval_s
        return max(0.0, due - now - (self.burst - 1) * self.interval_s)

    async def wait(self, channel: str) -> None:
        """Wait for the channel's next slot."""
        delay = self.reserve(channel)
        if delay > 0:
            await self.sleep(delay)


def slack_http(timeout_s: float, max_connections: int) -> httpx.AsyncClient:
    """The HTTP client for Slack's Web API: at most ``max_connections`` at once, all of them kept open.

    Why bounded: a batch posts up to a hundred alerts concurrently, and httpx's defaults (100 connections, 20 kept)
    opened a connection per alert only to close most of them again, a TLS handshake each against the real Slack.
    Slack paces a channel to about a message a second anyway; the rest wait for a free connection (the pool wait
    is not the request's timeout: a message queued behind others has not failed).
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s, pool=max(60.0, timeout_s)),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
    )


class SlackClient:
    """Slack's Web API: post, update, open a modal, and find a message we posted by its metadata."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_url: str,
        token: str,
        *,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        backoff_max_s: float = 10.0,
        pacer: ChannelPacer | None = None,
        history_page_size: int = 200,
        history_max_pages: int = 5,
        max_concurrency: int = 16,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.http = http
        self.sleep = sleep
        self.clock = clock
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.pacer = pacer
        self.history_page_size = history_page_size
        self.history_max_pages = history_max_pages
        # Calls beyond the HTTP pool's size wait here, not in the pool: httpcore matches its queued requests to
        # connections by scanning them all on every change, which with a hundred queued alerts cost more CPU than
        # the requests themselves.
        self._slots = asyncio.Semaphore(max_concurrency)

    async def post_message(self, message: SlackMessage, metadata: dict[str, object] | None = None) -> str:
        """chat.postMessage; returns "channel:ts". Raises PermanentSendError or TransientSendError."""
        payload: dict[str, object] = {
            "channel": message.channel,
            "text": message.text,
            "blocks": message.blocks,
            "unfurl_links": False,
        }
        if metadata:
            payload["metadata"] = metadata
        if self.pacer is not None:
            await self.pacer.wait(message.channel)
        since = self.clock() - _CLOCK_SKEW
        key = _metadata_key(metadata)
        event_type = str((metadata or {}).get("event_type"))

        async def posted_meanwhile() -> str | None:
            # A call that timed out may still have been posted: look before posting again.
            if key is None:
                return None
            return await self.find_posted(message.channel, event_type, key, since)

        body = await self._call("chat.postMessage", json_body=payload, before_retry=posted_meanwhile)
        if "found" in body:
            return str(body["found"])
        return f"{body.get('channel')}:{body.get('ts')}"

    async def update_message(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """chat.update: replace a message we posted (after a rep acted on it)."""
        await self._call("chat.update", json_body={"channel": channel, "ts": ts, "text": text, "blocks": blocks})

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """views.open: show a modal in answer to a click (the trigger expires after three seconds)."""
        await self._call("views.open", json_body={"trigger_id": trigger_id, "view": view}, attempts=1)

    async def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message of a conversation by its ts (conversations.history with latest = oldest = ts)."""
        body = await self._call(
            "conversations.history",
            form={"channel": channel, "latest": ts, "oldest": ts, "inclusive": "true", "limit": "1"},
        )
        messages = body.get("messages") or []
        return messages[0] if messages and isinstance(messages[0], dict) else None

    async def find_posted(self, channel: str, event_type: str, key: str, since: datetime) -> str | None:
        """Our message carrying metadata ``{event_type, event_payload: {key}}`` posted since ``since``, as
        "channel:ts", or None. This is how a send whose outcome was never recorded is told apart from one
        that never happened."""
        conversation = await self._conversation(channel)
        cursor: str | None = None
        for _ in range(self.history_max_pages):
            form = {
                "channel": conversation,
                "oldest": f"{since.timestamp():.6f}",
                "include_all_metadata": "true",
                "limit": str(self.history_page_size),
            }
            if cursor:
                form["cursor"] = cursor
            body = await self._call("conversations.history", form=form)
            for item in body.get("messages") or []:
                metadata = item.get("metadata") if isinstance(item, dict) else None
                if (
                    isinstance(metadata, dict)
                    and metadata.get("event_type") == event_type
                    and isinstance(metadata.get("event_payload"), dict)
                    and metadata["event_payload"].get("key") == key
                ):
                    return f"{conversation}:{item.get('ts')}"
            cursor = (body.get("response_metadata") or {}).get("next_cursor") or None
            if not body.get("has_more") or not cursor:
                return None
        return None

    async def _conversation(self, channel: str) -> str:
        # A message "to a user" lands in the bot's DM with them, whose id (D…) is what history needs.
        if not channel.startswith(("U", "W")):
            return channel
        body = await self._call("conversations.open", form={"users": channel})
        opened = body.get("channel")
        if not isinstance(opened, dict) or not isinstance(opened.get("id"), str):
            raise PermanentSendError("conversations.open returned no channel")
        return str(opened["id"])

    async def _call(
        self,
        method: str,
        *,
        json_body: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        attempts: int | None = None,
        before_retry: Callable[[], Awaitable[str | None]] | None = None,
    ) -> dict[str, Any]:
        """One Web API call with Slack's error model: 429 waits Retry-After, 5xx and network faults back off.

        ``before_retry`` runs before an attempt that follows a timed-out one (whose outcome is unknown); if it
        finds the effect already there, the call ends with ``{"ok": True, "found": ...}``.
        """
        max_attempts = attempts or self.max_attempts
        delay = self.backoff_s
        last_error = "no attempt"
        ambiguous = False
        for attempt in range(1, max_attempts + 1):
            if ambiguous and before_retry is not None:
                found = await before_retry()
                if found is not None:
                    return {"ok": True, "found": found}
            ambiguous = False
            try:
                async with self._slots:
                    response = await self.http.post(
                        f"{self.api_url}/{method}",
                        json=json_body,
                        data=form,
                        headers={"Authorization": f"Bearer {self.token}"},
                    )
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}"
                # A request that was sent but not answered may have taken effect; one never sent has not.
                ambiguous = isinstance(exc, httpx.TimeoutException | httpx.RemoteProtocolError) and not isinstance(
                    exc, httpx.ConnectTimeout | httpx.PoolTimeout
                )
            else:
                if response.status_code == 429:
                    retry_after = _retry_after(response.headers.get("Retry-After"))
                    last_error = f"rate limited (Retry-After {retry_after:g}s)"
                    RATE_LIMITED.labels(method).inc()
                    if attempt < max_attempts:
                        await self.sleep(retry_after)
                    continue
                if response.status_code >= 500:
                    last_error = f"HTTP {response.status_code}"
                else:
                    body = _json(response)
                    if body.get("ok"):
                        return body
                    error = str(body.get("error", "unknown_error"))
                    if error in PERMANENT_SLACK_ERRORS:
                        raise PermanentSendError(error)
                    last_error = error
            if attempt < max_attempts:
                # Jitter: many notifier instances recovering together must not hit Slack in lockstep.
                await self.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self.backoff_max_s)
        raise TransientSendError(f"Slack {method}: {last_error} after {max_attempts} attempts")


def _metadata_key(metadata: dict[str, object] | None) -> str | None:
    payload = metadata.get("event_payload") if metadata else None
    key = payload.get("key") if isinstance(payload, dict) else None
    return key if isinstance(key, str) and metadata and isinstance(metadata.get("event_type"), str) else None


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 1.0
    except ValueError:
        return 1.0


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"ok": False, "error": f"non_json_response_{response.status_code}"}
    return body if isinstance(body, dict) else {"ok": False, "error": "non_object_response"}


class Mailer:
    """SMTP over a few kept-open connections: one message per conversation was a TCP + EHLO round trip each.

    At most ``max_connections`` conversations at once; more messages wait for a connection to come free. Why: a
    batch owes up to a hundred emails sent concurrently, and with no bound each opened a connection of its own
    (TCP, EHLO, a host name lookup in a thread) only for all but a few to be closed again. A relay takes messages
    one after another on a connection.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 10.0,
        message_id_domain: str = "leadflow.local",
        max_connections: int = 8,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout_s = timeout_s
        self.message_id_domain = message_id_domain
        self.max_connections = max_connections
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._local_hostname: str | None = None  # said in EHLO; looked up once, not once per connection

    async def close(self) -> None:
        """Say QUIT on every kept connection."""
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()

    def mime(self, message: EmailMessage, idempotency_key: str) -> MIMEMultipart:
        """The MIME message (text + HTML alternatives, UTF-8), with a Message-ID derived from the idempotency key.

        Built on the ``email.mime`` classes (the compat32 policy) rather than ``email.message.EmailMessage``: the
        latter's header registry parsed every header back into objects, ~1.3 ms of CPU per email against ~0.4 ms.
        A header that is not ASCII (a Japanese subject, a name) is encoded as RFC 2047 UTF-8.
        """
        mime = MIMEMultipart("alternative")
        mime["From"] = _header(self.sender, "From")
        mime["To"] = _header(message.to, "To")
        mime["Subject"] = _header(message.subject, "Subject")
        # Derived from the idempotency key, so a re-send after a crash is the same message to mail clients,
        # which collapse copies sharing a Message-ID.
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
        mime["Message-ID"] = f"<{digest}@{self.message_id_domain}>"
        mime["X-LeadFlow-Key"] = idempotency_key
        if message.reply_to:
            mime["Reply-To"] = _header(message.reply_to, "Reply-To")
        mime.attach(MIMEText(message.text, "plain", "utf-8"))
        mime.attach(MIMEText(message.html, "html", "utf-8"))
        return mime

    async def send(self, message: EmailMessage, idempotency_key: str) -> str:
        """Send a text + HTML message; returns its Message-ID. Raises TransientSendError when SMTP is away."""
        mime = self.mime(message, idempotency_key)
        async with self._slots:
            return await self._send(mime)

    async def _send(self, mime: MIMEMultipart) -> str:
        client = self._idle.pop() if self._idle else None
        if client is not None and client.is_connected:
            try:
                await client.send_message(mime)
                return self._done(client, mime)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                client.close()
                raise PermanentSendError(f"recipient refused: {exc.recipients and 'recipient'}") from exc
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                # A kept connection the server closed while it sat idle (timeout, restart) fails on its first
                # command, before any message could be accepted on it: go again on a fresh one.
                client.close()
            except (aiosmtplib.SMTPException, OSError) as exc:
                client.close()
                raise TransientSendError(f"SMTP: {type(exc).__name__}") from exc
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            timeout=self.timeout_s,
            local_hostname=self._local_hostname,
        )
        try:
            await client.connect()
            await client.send_message(mime)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            client.close()
            raise PermanentSendError(f"recipient refused: {exc.recipients and 'recipient'}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise TransientSendError(f"SMTP: {type(exc).__name__}") from exc
        return self._done(client, mime)

    def _done(self, client: aiosmtplib.SMTP, mime: MIMEMultipart) -> str:
        # The server took the message with its reply to DATA; the caller marks it sent right away (every
        # millisecond between that reply and the mark is a window in which a crash re-sends it after the restart,
        # with the same Message-ID). The connection is kept for the next message, or dropped when enough are kept.
        if len(self._idle) < self.max_connections:
            self._idle.append(client)
        else:
            client.close()
        return str(mime["Message-ID"])


def _header(value: str, name: str) -> str:
    """A header value as is when it is ASCII, else RFC 2047 encoded words in UTF-8 (an address's name only).

    Line breaks become spaces: a lead's company or name ends up in the subject, and a CR/LF there must never start
    a header of its own (compat32 does not refuse them as ``EmailMessage`` did).
    """
    value = " ".join(value.splitlines())
    if value.isascii():
        return value
    person, address = parseaddr(value)
    if address and person and address.isascii():
        return formataddr((person, address), charset="utf-8")
    # folded knowing the header's name, so the first line holds words too (not a break right after "Subject:")
    return Header(value, "utf-8", header_name=name).encode()


def failure_reason(error: str) -> str:
    """A bounded metric label for a refusal: Slack's own error code when it is one we know, else its class."""
    code = error.split(":", 1)[0].strip()
    if code in PERMANENT_SLACK_ERRORS:
        return code
    return "smtp_refused" if "recipient" in error.lower() else "other"
