"""Scoring: keeps a fit + intent score per lead, its rank, temperature and lifecycle stage, with the reasons."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from fastapi import FastAPI

from services.scoring.api import admin, reload_and_rescore, router
from services.scoring.consumer import ScoringHandler, decode_event
from services.scoring.jobs import JobRunner, ModelHolder, Reevaluator, reevaluate_forever
from services.scoring.lead_update import Cause
from services.scoring.model import load_scoring_model
from services.scoring.models import SCHEMA, outbox
from services.scoring.settings import get_settings
from shared.config_file import ConfigError
from shared.events import Topics
from shared.runtime import service_runtime
from shared.service import create_service_app

SERVICE = "scoring"
MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    # a bad model refuses to start, naming the line
    holder = ModelHolder(settings.model_path, load_scoring_model(settings.model_path))
    async with service_runtime(
        app, service=SERVICE, settings=settings, schema=SCHEMA, migrations=MIGRATIONS, outbox_table=outbox
    ) as runtime:
        assert runtime.outbox is not None
        handler = ScoringHandler(
            runtime.sessions, runtime.outbox, model=holder, parsed_events=settings.parsed_event_cache
        )
        runtime.consume(
            topics=[Topics.EVENTS],
            group_id=settings.consumer_group,
            decode=decode_event,
            apply=handler.apply,
            max_records=settings.max_batch,
            concurrency=settings.partition_concurrency,
        )
        reevaluator = Reevaluator(
            runtime.sessions,
            runtime.outbox,
            batch_size=settings.job_batch_size,
            max_passes=settings.rescore_max_passes,
        )
        jobs = JobRunner(runtime.sessions, reevaluator, holder)
        app.state.model = holder
        app.state.jobs = jobs
        app.state.admin_token = settings.scoring_admin_token
        if settings.rescore_on_start:
            await jobs.start(Cause.MODEL)  # finds nothing to do unless scoring.yaml changed while we were down
        if settings.reevaluate_interval_s > 0:
            runtime.background(
                reevaluate_forever(
                    jobs, first_delay_s=settings.reevaluate_first_delay_s, interval_s=settings.reevaluate_interval_s
                ),
                name=f"{SERVICE}-reevaluate",
            )
        reloads: set[asyncio.Task[None]] = set()
        _on_sighup(holder, jobs, reloads)
        try:
            yield
        finally:
            with suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            await jobs.close()


def _on_sighup(holder: ModelHolder, jobs: JobRunner, reloads: set[asyncio.Task[None]]) -> None:
    """`kill -HUP <pid>` reloads scoring.yaml and rescores, like POST /v1/admin/model/reload."""

    async def reload() -> None:
        try:
            await reload_and_rescore(holder, jobs)
        except ConfigError as exc:
            log.error("scoring model reload refused, keeping the current model", extra={"fields": {"error": str(exc)}})

    def handle() -> None:
        task = asyncio.create_task(reload(), name=f"{SERVICE}-reload")
        reloads.add(task)  # keep a reference until it ends, or the task may be collected mid-flight
        task.add_done_callback(reloads.discard)

    with suppress(NotImplementedError, RuntimeError):  # no signals on Windows or outside the main thread
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, handle)


app = create_service_app(
    service=SERVICE,
    lifespan=lifespan,
    routers=[router, admin],
    description="Scores every lead (fit + intent with decay), ranks it A/B/C, keeps its temperature and lifecycle "
    "stage, and explains each number with the rules and events behind it.",
)
