"""Local stand-ins for the third-party edges (Slack, SMTP), for development, demos and tests.

``python -m leadflow.standins`` runs both in one process; :func:`create_standins_app` is the HTTP side.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from leadflow.standins.slack import SlackState, create_slack_app
from leadflow.standins.smtp import MailSink, ReceivedMail, mail_router, start_smtp_sink

__all__ = [
    "MailSink",
    "ReceivedMail",
    "SlackState",
    "create_slack_app",
    "create_standins_app",
    "start_smtp_sink",
]


def create_standins_app(token: str, sink: MailSink, *, state: SlackState | None = None) -> FastAPI:
    """The Slack stand-in plus the mail read-out, a health check and an inbox page at ``/``."""
    app = create_slack_app(token, state=state)
    app.include_router(mail_router(sink))
    slack: SlackState = app.state.slack

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "slack_messages": len(slack.messages), "emails": len(sink.messages)}

    @app.get("/", response_class=HTMLResponse)
    async def inbox() -> str:
        return render_inbox(slack.messages, sink.messages)

    return app


def render_inbox(slack_messages: list[dict[str, Any]], mails: list[ReceivedMail]) -> str:
    """A small HTML page listing Slack messages and emails, newest first, every value escaped."""
    slack_items = "".join(_slack_item(m) for m in reversed(slack_messages)) or "<p>No Slack messages yet.</p>"
    mail_items = "".join(_mail_item(m) for m in reversed(mails)) or "<p>No emails yet.</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>LeadFlow stand-ins</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #1d1c1d; }}
section {{ display: inline-block; vertical-align: top; width: 48%; }}
article {{ border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; margin: 0 1em 1em 0; }}
pre {{ white-space: pre-wrap; font-family: inherit; margin: 0.4em 0; }}
.meta {{ color: #616061; font-size: 0.85em; }}
</style>
</head>
<body>
<h1>LeadFlow stand-ins</h1>
<section><h2>Slack ({len(slack_messages)})</h2>{slack_items}</section>
<section><h2>Email ({len(mails)})</h2>{mail_items}</section>
</body>
</html>
"""


def _slack_item(message: dict[str, Any]) -> str:
    lines = _block_texts(message.get("blocks") or []) or [message.get("text") or ""]
    body = "".join(f"<pre>{html.escape(line)}</pre>" for line in lines)
    meta = " · ".join(
        [
            f"#{message['channel']}",
            f"ts {message['ts']}",
            _when(message.get("received_at")),
            message["method"],
        ]
    )
    return f'<article><div class="meta">{html.escape(meta)}</div>{body}</article>'


def _mail_item(mail: ReceivedMail) -> str:
    meta = " · ".join(
        [
            f"to {mail.to_header or ', '.join(mail.rcpt_tos)}",
            f"from {mail.from_header or mail.mail_from}",
            _when(mail.received_at),
        ]
    )
    return (
        f'<article><div class="meta">{html.escape(meta)}</div>'
        f"<strong>{html.escape(mail.subject)}</strong><pre>{html.escape(mail.text or '')}</pre></article>"
    )


def _block_texts(node: Any) -> list[str]:
    """Every text string inside a block tree, in reading order."""
    if isinstance(node, list):
        return [t for item in node for t in _block_texts(item)]
    if isinstance(node, dict):
        if node.get("type") in {"mrkdwn", "plain_text"} and isinstance(node.get("text"), str):
            return [node["text"]]
        return [t for value in node.values() for t in _block_texts(value)]
    return []


def _when(timestamp: Any) -> str:
    if not isinstance(timestamp, int | float):
        return ""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
