"""Adapters to the outside: Slack's Web API over httpx and SMTP over aiosmtplib.

Slack answers HTTP 200 with ``ok: false`` for most errors; 429 carries ``Retry-After``. Errors that retrying
cannot fix (bad channel, bad token) are permanent; everything else is retried with backoff and jitter.
"""

from __future__ import annotations

import asyncio
import random
from email.message import EmailMessage as MimeMessage
from email.utils import make_msgid

import aiosmtplib
import httpx

from services.notifier.domain import EmailMessage, SlackMessage

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
    }
)


class PermanentSendError(RuntimeError):
    """Retrying cannot help (bad channel, bad token, rejected content)."""


class TransientSendError(ConnectionError):
    """The provider is away or throttling beyond our patience: the batch is retried later."""


class SlackClient:
    def __init__(
        self, http: httpx.AsyncClient, api_url: str, token: str, *, max_attempts: int = 5, backoff_s: float = 0.5
    ) -> None:
        self.http = http
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s

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
        delay = self.backoff_s
        last_error = "no attempt"
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = await self.http.post(
                    f"{self.api_url}/chat.postMessage",
                    json=payload,
                    headers={"Authorization": f"Bearer {self.token}"},
                )
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}"
            else:
                if response.status_code == 429:
                    retry_after = float(response.headers.get("Retry-After", "1") or 1)
                    last_error = f"rate limited (Retry-After {retry_after:g}s)"
                    await asyncio.sleep(retry_after)
                    continue
                if response.status_code >= 500:
                    last_error = f"HTTP {response.status_code}"
                else:
                    body = response.json()
                    if body.get("ok"):
                        return f"{body.get('channel')}:{body.get('ts')}"
                    error = str(body.get("error", "unknown_error"))
                    if error in PERMANENT_SLACK_ERRORS:
                        raise PermanentSendError(error)
                    last_error = error
            if attempt < self.max_attempts:
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 10)
        raise TransientSendError(f"Slack: {last_error} after {self.max_attempts} attempts")


class Mailer:
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
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout_s = timeout_s

    async def send(self, message: EmailMessage, idempotency_key: str) -> str:
        """Send a text + HTML message; returns its Message-ID. Raises TransientSendError when SMTP is away."""
        mime = MimeMessage()
        mime["From"] = self.sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Message-ID"] = make_msgid(domain="leadflow.local")
        mime["X-LeadFlow-Key"] = idempotency_key
        mime.set_content(message.text)
        mime.add_alternative(message.html, subtype="html")
        try:
            await aiosmtplib.send(
                mime,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=self.starttls,
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentSendError(f"recipient refused: {exc.recipients and 'recipient'}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientSendError(f"SMTP: {type(exc).__name__}") from exc
        return str(mime["Message-ID"])
