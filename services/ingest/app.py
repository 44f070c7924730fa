"""Ingest: the only door into LeadFlow. Normalizes every source into one event shape and publishes it durably."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.ingest.api import router
from services.ingest.producer import EventPublisher
from services.ingest.settings import get_settings
from shared.kafka import create_producer
from shared.logging import configure_logging
from shared.service import add_ready_check, create_service_app

SERVICE = "ingest"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    configure_logging(SERVICE, settings.log_level)
    producer = create_producer(settings.kafka_bootstrap_servers, client_id=SERVICE)
    await producer.start()
    app.state.settings = settings
    app.state.publisher = EventPublisher(producer, settings.publish_timeout_s)

    async def kafka_ready() -> None:
        await producer.client.fetch_all_metadata()

    add_ready_check(app, "kafka", kafka_ready)
    try:
        yield
    finally:
        await producer.stop()  # flushes what is in flight before the process exits


app = create_service_app(
    service=SERVICE,
    lifespan=lifespan,
    routers=[router],
    description="Normalizes web forms, webinars, trade shows, behaviour webhooks and sales feedback into one event "
    "shape and publishes each durably to Kafka (acks=all, idempotent) before answering 202.",
)


@app.middleware("http")
async def limit_body_size(request: Request, call_next):  # type: ignore[no-untyped-def]
    """413 before reading a body over the limit (256 KiB; 1 MiB for batch)."""
    settings = get_settings()
    limit = settings.max_batch_body_bytes if request.url.path.endswith("/batch") else settings.max_body_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        return JSONResponse(status_code=413, content={"error": "payload_too_large", "limit_bytes": limit})
    return await call_next(request)
