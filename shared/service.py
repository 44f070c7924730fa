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
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS, READY

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[None]]


def _route_template(request: Request) -> str:
    # Label by the route's template (/v1/leads/{lead_id}), never the raw path: bounded cardinality, no ids.
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


def create_service_app(
    *,
    service: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]],
    routers: Sequence[APIRouter],
    description: str,
    version: str = "0.1.0",
) -> FastAPI:
    """Build a service's FastAPI app with the endpoints every LeadFlow service has."""
    app = FastAPI(title=f"LeadFlow {service}", description=description, version=version, lifespan=lifespan)
    app.state.service = service
    app.state.ready_checks = []

    @app.middleware("http")
    async def record_metrics(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            # FastAPI wraps included routers, so the matched route's template is only known once routing ran;
            # the walk over every route is only the fallback for requests no route took (404s, early refusals).
            matched = getattr(request.scope.get("route"), "path", None)
            route = str(matched) if matched else _route_template(request)
            HTTP_REQUESTS.labels(service, route, request.method, str(status)).inc()
            HTTP_LATENCY.labels(service, route, request.method).observe(time.perf_counter() - started)

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
