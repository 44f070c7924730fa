"""Router: applies routing rules, picks each qualified lead's owner and starts its SLA clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.router.api import reps_router, router
from services.router.config import load_routing_config
from services.router.console import router as console_router
from services.router.consumer import RouterHandler, decode_scored
from services.router.models import SCHEMA, outbox
from services.router.settings import get_settings
from services.router.sla_clock import SlaClock
from shared.events import Topics
from shared.runtime import service_runtime
from shared.service import create_service_app

SERVICE = "router"
MIGRATIONS = Path(__file__).parent / "migrations"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    config = load_routing_config(settings.routing_path)  # a bad routing.yaml refuses to start, naming the line
    async with service_runtime(
        app, service=SERVICE, settings=settings, schema=SCHEMA, migrations=MIGRATIONS, outbox_table=outbox
    ) as runtime:
        assert runtime.outbox is not None
        app.state.routing = config
        app.state.outbox = runtime.outbox
        handler = RouterHandler(runtime.sessions, runtime.outbox, config=lambda: config)
        runtime.consume(
            topics=[Topics.SCORED],
            group_id=settings.consumer_group,
            decode=decode_scored,
            apply=handler.apply,
            max_records=settings.max_batch,
        )
        sla_clock = SlaClock(runtime.sessions, runtime.outbox, config=lambda: config, batch=settings.sla_tick_batch)
        runtime.background(sla_clock.run_forever(settings.sla_tick_interval_s), name="router-sla-clock")
        yield


app = create_service_app(
    service=SERVICE,
    lifespan=lifespan,
    routers=[router, reps_router, console_router],
    description="Routes qualified leads: account match, territory rules, fair round-robin with capacity and "
    "availability, SLA clocks. Every decision carries its trace.",
)
