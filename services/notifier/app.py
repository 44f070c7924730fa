"""Notifier: alerts the owner on Slack and by email inside the SLA window, exactly once as the rep sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.notifier.api import router
from services.notifier.consumer import NotifierHandler, decode_decision
from services.notifier.models import SCHEMA
from services.notifier.senders import Mailer, SlackClient
from services.notifier.settings import get_settings
from shared.events import Topics
from shared.runtime import service_runtime
from shared.service import create_service_app

SERVICE = "notifier"
MIGRATIONS = Path(__file__).parent / "migrations"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    async with (
        httpx.AsyncClient(timeout=settings.slack_timeout_s) as http,
        service_runtime(
            app, service=SERVICE, settings=settings, schema=SCHEMA, migrations=MIGRATIONS, outbox_table=None
        ) as runtime,
    ):
        slack = SlackClient(
            http, settings.slack_api_url, settings.slack_bot_token, max_attempts=settings.slack_max_attempts
        )
        mailer = Mailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout_s=settings.smtp_timeout_s,
        )
        handler = NotifierHandler(runtime.sessions, slack, mailer, console_url=settings.console_url)
        runtime.consume(
            topics=[Topics.DECISIONS],
            group_id=settings.consumer_group,
            decode=decode_decision,
            apply=handler.apply,
            max_records=settings.max_batch,
        )
        yield


app = create_service_app(
    service=SERVICE,
    lifespan=lifespan,
    routers=[router],
    description="Turns routing decisions into Slack and email alerts with the context a rep needs, exactly once.",
)
