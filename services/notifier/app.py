"""Notifier: alerts the owner on Slack and by email inside the SLA window, exactly once as the rep sees it;
reminds and escalates on the router's SLA clock; turns the rep's Slack clicks into sales feedback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.notifier.api import router, slack_router
from services.notifier.consumer import NotifierHandler, decode_record
from services.notifier.feedback import InteractionHandler
from services.notifier.models import SCHEMA, outbox
from services.notifier.senders import ChannelPacer, Mailer, SlackClient, slack_http
from services.notifier.settings import get_settings
from shared.runtime import service_runtime
from shared.service import create_service_app

SERVICE = "notifier"
MIGRATIONS = Path(__file__).parent / "migrations"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    async with (
        slack_http(settings.slack_timeout_s, settings.slack_max_connections) as http,
        service_runtime(
            app, service=SERVICE, settings=settings, schema=SCHEMA, migrations=MIGRATIONS, outbox_table=outbox
        ) as runtime,
    ):
        if runtime.outbox is None:
            raise RuntimeError("the notifier needs its outbox table")
        slack = SlackClient(
            http,
            settings.slack_api_url,
            settings.slack_bot_token,
            max_attempts=settings.slack_max_attempts,
            backoff_s=settings.slack_backoff_s,
            backoff_max_s=settings.slack_backoff_max_s,
            pacer=ChannelPacer(settings.slack_channel_interval_s, settings.slack_channel_burst),
            history_page_size=settings.slack_history_page_size,
            history_max_pages=settings.slack_history_max_pages,
            max_concurrency=settings.slack_max_connections,
        )
        mailer = Mailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout_s=settings.smtp_timeout_s,
            max_connections=settings.smtp_max_connections,
        )
        handler = NotifierHandler(
            runtime.sessions,
            slack,
            mailer,
            console_url=settings.console_url,
            outbox=runtime.outbox,
            material_url=settings.seminar_material_url,
        )
        app.state.settings = settings
        app.state.interactions = InteractionHandler(runtime.sessions, runtime.outbox, slack)
        # Four groups: one per topic, so a burst of SLA reminders and escalations (paced per Slack channel) is
        # worked through on its own while new leads' alerts keep flowing; and per medium, so a slow mail server
        # never holds a Slack alert back. The handler takes either kind of record and delivers the loop's medium.
        for topic, group, media in settings.consumer_groups():
            runtime.consume(
                topics=[topic], group_id=group, decode=decode_record, apply=handler.delivering(media),
                max_records=settings.max_batch,
            )  # fmt: skip
        try:
            yield
        finally:
            await mailer.close()


app = create_service_app(
    service=SERVICE,
    lifespan=lifespan,
    routers=[router, slack_router],
    description="Turns routing decisions and SLA events into Slack and email alerts with the context a rep needs, "
    "exactly once, and the rep's Slack clicks into sales feedback.",
)
