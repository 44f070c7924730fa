"""The common shape of a LeadFlow service: health, readiness, metrics, request metrics, clear 4xx errors."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, suppress
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.kafka import is_transient
from shared.metrics import DB_ERRORS, HTTP_LATENCY, HTTP_REQUESTS, READY

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[None]]


def _route_template(scope: Scope) -> str:
    # Label by the route's template (/v1/leads/{lead_id}), never the raw path: bounded cardinality, no ids.
    # FastAPI sets scope["route"] once routing matched; the walk over every route is only the fallback for
    # requests no route took (404s, 405s, early refusals).
    matched = getattr(scope.get("route"), "path", None)
    if matched:
        return str(matched)
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


class RequestMetrics:
    """Counts and times every HTTP request by route template, status and method.

    Pure ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs each request's app in
    a task of its own and streams the answer through memory object streams, which cost more CPU than a small
    route itself. Here the only per-request work is reading the status off ``http.response.start``.
    """

    # Label children are looked up under a lock in prometheus_client; the few (route, method, status) triples
    # are cached here. The cap keeps odd methods sent by a client from growing the cache without bound.
    _CACHE_LIMIT = 1024

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self._record(_route_template(scope), scope["method"], status, time.perf_counter() - started)

    def _record(self, route: str, method: str, status: int, seconds: float) -> None:
        counter_key = (route, method, str(status))
        counter = self._counters.get(counter_key)
        if counter is None:
            counter = HTTP_REQUESTS.labels(self.service, *counter_key)
            if len(self._counters) < self._CACHE_LIMIT:
                self._counters[counter_key] = counter
        counter.inc()
        timer = self._timers.get((route, method))
        if timer is None:
            timer = HTTP_LATENCY.labels(self.service, route, method)
            if len(self._timers) < self._CACHE_LIMIT:
                self._timers[(route, method)] = timer
        timer.observe(seconds)


def create_service_app(
    *,
    service: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]],
    routers: Sequence[APIRouter],
    description: str,
    version: str = "0.1.0",
) -> FastAPI:
    """Build a service's FastAPI app with the endpoints every LeadFlow service has."""
    app = FastAPI(
        title=f"LeadFlow {service}",
        description=description,
        version=version,
        lifespan=lifespan,
        # LeadFlow's metrics are Prometheus (RequestMetrics below). FastAPI's native OpenTelemetry looked for a
        # configured provider on every request (an environment lookup each time), for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = service
    app.state.ready_checks = []

    app.add_middleware(RequestMetrics, service=service)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # 422 with the JSON path and reason of each bad field; the input itself is not echoed (personal data).
        errors = [
            {"path": "/".join(str(p) for p in err.get("loc", ())), "reason": err.get("msg", "invalid")}
            for err in exc.errors()
        ]
        return JSONResponse(status_code=422, content=jsonable_encoder({"error": "validation_failed", "errors": errors}))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        content = exc.detail if isinstance(exc.detail, dict) else {"error": exc.detail}
        return JSONResponse(status_code=exc.status_code, content=content, headers=getattr(exc, "headers", None))

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeoutError)
    async def database_error(_: Request, exc: Exception) -> JSONResponse:
        # The database went away, restarted (a pooled connection found dead on first use: the pool is renewed, the
        # client's retry gets a fresh one) or is saturated: say "retry", never a bare 500.
        if not is_transient(exc):
            # The class and SQLSTATE only: the exception's text carries the statement's parameters (personal data).
            sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
            log.error(
                "database error in a request", extra={"fields": {"error": type(exc).__name__, "sqlstate": sqlstate}}
            )
            return JSONResponse(status_code=500, content={"error": "internal_error"})
        DB_ERRORS.labels(service, "request", type(exc).__name__).inc()
        return JSONResponse(
            status_code=503,
            content={"error": "database_unavailable", "detail": "retry later"},
            headers={"Retry-After": "1"},
        )

    ops = APIRouter(tags=["operations"])

    @ops.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok", "service": service}

    @ops.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        """Kafka and the database answer: ready to take traffic."""
        failures: dict[str, str] = {}
        for name, check in request.app.state.ready_checks:
            try:
                await asyncio.wait_for(check(), timeout=3)
            except Exception as exc:
                failures[name] = type(exc).__name__
        READY.labels(service).set(0 if failures else 1)
        if failures:
            return JSONResponse(status_code=503, content={"status": "unavailable", "failures": failures})
        return JSONResponse(content={"status": "ready", "service": service})

    @ops.get("/metrics")
    async def metrics() -> Response:
        """Prometheus exposition."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(ops)
    for router in routers:
        app.include_router(router)
    return app


def add_ready_check(app: FastAPI, name: str, check: ReadyCheck) -> None:
    """Register a readiness probe run by /readyz."""
    app.state.ready_checks.append((name, check))


async def cancel_quietly(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Cancel background tasks and wait for them, in reverse start order."""
    for task in reversed(tasks):
        task.cancel()
    for task in reversed(tasks):
        with suppress(asyncio.CancelledError, Exception):
            await task
