"""Scoring: keeps a fit + intent score per lead, its rank, temperature and lifecycle stage, with the reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.scoring.api import router
from services.scoring.consumer import ScoringHandler, decode_event
from services.scoring.model import load_scoring_model
from services.scoring.models import SCHEMA, outbox
from services.scoring.settings import get_settings
from shared.events import Topics
from shared.runtime import service_runtime
from shared.service import create_service_app

SERVICE = "scoring"
MIGRATIONS = Path(__file__).parent / "migrations"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    model = load_scoring_model(settings.model_path)  # a bad model refuses to start, naming the line
    async with service_runtime(
        app, service=SERVICE, settings=settings, schema=SCHEMA, migrations=MIGRATIONS, outbox_table=outbox
    ) as runtime:
        assert runtime.outbox is not None
        handler = ScoringHandler(runtime.sessions, runtime.outbox, model=lambda: model)
        runtime.consume(
            topics=[Topics.EVENTS],
            group_id=settings.consumer_group,
            decode=decode_event,
            apply=handler.apply,
            max_records=settings.max_batch,
        )
        yield


app = create_service_app(
    service=SERVICE,
    lifespan=lifespan,
    routers=[router],
    description="Scores every lead (fit + intent with decay), ranks it A/B/C, keeps its temperature and lifecycle "
    "stage, and explains each number with the rules and events behind it.",
)
