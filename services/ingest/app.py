"""Ingest: the only door into LeadFlow. Normalizes every source into one event shape and publishes it durably."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.ingest import api, imports, metrics, repository, webhooks
from services.ingest.deps import IngestState
from services.ingest.intake import Intake
from services.ingest.lane import EventLane
from services.ingest.models import SCHEMA
from services.ingest.producer import EventPublisher
from services.ingest.ratelimit import TokenBuckets
from services.ingest.settings import IngestSettings, get_settings
from shared.db import create_engine, migrate, ping, session_factory, unit_of_work
from shared.gc_tuning import tune_gc
from shared.kafka import Publisher, is_transient
from shared.logging import configure_logging, log_fields
from shared.service import add_ready_check, cancel_quietly, create_service_app

SERVICE = "ingest"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)


async def purge_forever(state: IngestState, interval_s: float) -> None:
    """Forget idempotency answers and event ids once their window has passed."""
    while True:
        try:
            async with unit_of_work(state.intake.sessions) as session:
                window = timedelta(hours=state.settings.idempotency_ttl_h)
                await repository.purge_expired(session, datetime.now(UTC) - window)
        except Exception as exc:
            if not is_transient(exc):
                log.exception("idempotency purge failed")
        await asyncio.sleep(interval_s)


async def connect_forever(publisher: EventPublisher, settings: IngestSettings) -> None:
    """Start a producer, retrying while Kafka is away: ingest answers 503 meanwhile, never 202."""
    delay = settings.kafka_connect_backoff_s
    while publisher.connected is None:
        connected = Publisher.connect(settings.kafka_bootstrap_servers, client_id=SERVICE)
        try:
            await connected.start()
        except asyncio.CancelledError:
            await asyncio.shield(connected.producer.stop())  # shutting down mid-attempt: release its connections
            raise
        except Exception as exc:  # any failure to connect is retried: ingest must come up without Kafka
            log.warning("kafka not reachable, retrying", extra=log_fields(error=type(exc).__name__))
            await connected.producer.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.kafka_connect_backoff_max_s)
            continue
        publisher.connected = connected


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    configure_logging(SERVICE, settings.log_level)
    engine = create_engine(settings.database_url, settings.db_pool_size, settings.db_pool_timeout_s)
    try:
        if settings.migrate_on_start:
            await migrate(engine, MIGRATIONS, SCHEMA)
    except BaseException:
        await engine.dispose()
        raise
    # The group commit (intake.py) runs one statement per step, each step on a connection it keeps: in autocommit
    # that statement is its own transaction (no BEGIN, no COMMIT), and without the pool's pre-ping (a round trip
    # before every step) a step is one round trip; intake retries a step once on a connection found dead instead.
    # Every round trip of a group is latency for every request in it.
    group_engine = create_async_engine(
        settings.database_url,
        isolation_level="AUTOCOMMIT",
        pool_size=2,
        max_overflow=2,
        pool_timeout=settings.db_pool_timeout_s,
    )
    publisher = EventPublisher(None, settings.publish_timeout_s)
    intake = Intake(publisher, session_factory(engine), timedelta(hours=settings.idempotency_ttl_h), group_engine)
    app.state.ingest = IngestState(
        settings=settings,
        intake=intake,
        source_buckets=TokenBuckets(
            settings.rate_limit_per_source_per_s, settings.rate_limit_source_burst, settings.rate_limit_max_buckets
        ),
        ip_buckets=TokenBuckets(
            settings.rate_limit_per_ip_per_s, settings.rate_limit_ip_burst, settings.rate_limit_max_buckets
        ),
    )

    async def kafka_ready() -> None:
        if publisher.producer is None:
            raise ConnectionError("not connected to Kafka yet")
        await publisher.producer.client.fetch_all_metadata()

    add_ready_check(app, "kafka", kafka_ready)
    add_ready_check(app, "database", lambda: ping(engine))
    tasks = [
        asyncio.create_task(connect_forever(publisher, settings), name="ingest-kafka-connect"),
        asyncio.create_task(purge_forever(app.state.ingest, settings.purge_interval_s), name="ingest-purge"),
    ]
    tune_gc(settings.gc_threshold_values)
    try:
        yield
    finally:
        await cancel_quietly(tasks)
        if publisher.connected is not None:
            await publisher.connected.stop()  # flushes what is in flight before the process exits
        await intake.close()
        await group_engine.dispose()
        await engine.dispose()


def _body_limit(settings: IngestSettings, path: str) -> int:
    if path.startswith("/v1/imports/"):
        return settings.max_csv_bytes
    return settings.max_batch_body_bytes if path.endswith("/batch") else settings.max_body_bytes


def _expected_types(path: str) -> tuple[str, ...]:
    return ("text/csv", "multipart/form-data") if path.startswith("/v1/imports/") else ("application/json",)


class RequestGate:
    """413 over the size limit (also for bodies sent without Content-Length) and 415 for a wrong media type.

    Pure ASGI, so the checks run before any route reads a byte and before FastAPI guesses at the body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        path: str = scope["path"]
        # Only two headers matter here: pick them out rather than decode every header of every request.
        # (The last one wins when a header is repeated, as in a dict built from all of them.)
        content_type, length = "", None
        for name, value in scope["headers"]:
            lowered = name.lower()
            if lowered == b"content-type":
                content_type = value.decode("latin-1")
            elif lowered == b"content-length":
                length = value.decode("latin-1")
        media = content_type.split(";")[0].strip().lower()
        expected = _expected_types(path)
        if media not in expected and not (media.endswith("+json") and "application/json" in expected):
            await _refuse(scope, receive, send, 415, {"error": "unsupported_media_type", "expected": list(expected)})
            return
        limit = _body_limit(settings, path)
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _refuse(scope, receive, send, 413, {"error": "payload_too_large", "limit_bytes": limit})
            return
        if length is None and not path.startswith("/v1/imports/"):
            # A chunked body has no length to check: read it up to the limit, then replay it to the route.
            body, more = b"", True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > limit:
                    await _refuse(scope, receive, send, 413, {"error": "payload_too_large", "limit_bytes": limit})
                    return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, content: dict[str, object],
    headers: dict[str, str] | None = None,
) -> None:  # fmt: skip
    """Answer from a middleware, before any route ran."""
    await JSONResponse(status_code=status, content=content, headers=headers)(scope, receive, send)


class LoadShedder:
    """A fast ``503`` + ``Retry-After`` once ``MAX_IN_FLIGHT`` event requests are already being worked on.

    Why: past what the machine can do, requests otherwise queue inside the process until the sender's own
    timeout (10 s for most platforms), each one still costing CPU when its turn comes, so every request is slow
    and the sender cannot tell stored from lost. Refused at the door instead, before a byte of the body is read,
    a request costs little, nothing is stored, and the sender's retry (every platform retries a 503) finds room.
    Operations endpoints (``/healthz``, ``/readyz``, ``/metrics``) are never refused.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        if 0 < settings.max_in_flight <= self.in_flight:
            metrics.SHED.inc()
            await _refuse(
                scope, receive, send, 503,
                {"error": "overloaded", "detail": "too many requests in progress; not stored, retry later"},
                headers={"Retry-After": str(settings.overload_retry_after_s)},
            )  # fmt: skip
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def _vary_on_origin(send: Send) -> Send:
    async def send_with_vary(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            varies = [value.decode("latin-1") for name, value in headers if name.lower() == b"vary"]
            headers = [(name, value) for name, value in headers if name.lower() != b"vary"]
            headers.append((b"vary", ", ".join([*varies, "Origin"]).encode("latin-1")))
            message = {**message, "headers": headers}
        await send(message)

    return send_with_vary


class LazyCors:
    """CORS for browser form posts, with the allow-list read from settings at the first request, not at import."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._cors: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and all(name != b"origin" for name, _ in scope["headers"]):
            # Not a cross-origin request (servers, bulk senders): all CORS would do is add "Vary: Origin", which
            # is added here without Starlette parsing every request's and response's headers.
            await self.app(scope, receive, _vary_on_origin(send))
            return
        if self._cors is None:
            settings = get_settings()
            self._cors = CORSMiddleware(
                self.app,
                allow_origins=settings.allowed_origins,
                allow_methods=["POST"],
                allow_headers=["content-type", "x-form-key", "idempotency-key"],
                expose_headers=["Retry-After", "Idempotent-Replayed"],
                max_age=600,
            )
        await self._cors(scope, receive, send)


def create_app() -> FastAPI:
    """Ingest's app; settings are read when it starts serving, never at import."""
    app = create_service_app(
        service=SERVICE,
        lifespan=lifespan,
        routers=[api.router, webhooks.router, imports.router],
        description="Normalizes web forms, webinars, trade shows, behaviour webhooks, Mautic and HubSpot webhooks, "
        "CSV badge lists and sales feedback into one event shape and publishes each durably to Kafka (acks=all, "
        "idempotent) before answering 202. See docs/ingest.md.",
    )
    # Innermost, inside the request metrics and every check below: last in the list FastAPI builds its stack from.
    app.user_middleware.append(Middleware(EventLane, owner=app, routes=api.router.routes))
    app.add_middleware(RequestGate)
    app.add_middleware(LoadShedder)  # before the size and type checks: an overloaded door refuses at once
    app.add_middleware(LazyCors)  # outermost: refusals (413, 415, 429, 503) carry CORS headers for the browser too
    return app


app = create_app()
