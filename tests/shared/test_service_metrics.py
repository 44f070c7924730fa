"""Request metrics of every service (shared/service.py): counted and timed by route template, never by raw path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY

from shared.service import create_service_app

SERVICE = "metrics-probe"


@asynccontextmanager
async def _nothing_to_open(_: FastAPI) -> AsyncIterator[None]:
    yield


def _probe_app() -> FastAPI:
    router = APIRouter()

    @router.get("/v1/things/{thing_id}")
    async def get_thing(thing_id: str) -> dict[str, str]:
        return {"thing_id": thing_id}

    @router.get("/v1/broken")
    async def broken() -> None:
        raise RuntimeError("a bug, not bad input")

    return create_service_app(service=SERVICE, lifespan=_nothing_to_open, routers=[router], description="probe")


def _count(route: str, method: str, status: str) -> float:
    labels = {"service": SERVICE, "route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("leadflow_http_requests_total", labels) or 0.0


def _timed(route: str, method: str) -> float:
    labels = {"service": SERVICE, "route": route, "method": method}
    return REGISTRY.get_sample_value("leadflow_http_request_duration_seconds_count", labels) or 0.0


async def _get(app: FastAPI, path: str) -> int:
    # raise_app_exceptions=False: answer like uvicorn does, with the 500 the app sent, instead of raising here
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe.test") as client:
        return (await client.get(path)).status_code


async def test_a_request_is_counted_and_timed_under_its_route_template_not_its_raw_path() -> None:
    # Given a service with a route that takes an id in its path
    app = _probe_app()
    counted, timed = _count("/v1/things/{thing_id}", "GET", "200"), _timed("/v1/things/{thing_id}", "GET")
    # When two different ids are requested
    assert await _get(app, "/v1/things/ld_0001") == 200
    assert await _get(app, "/v1/things/ld_0002") == 200
    # Then both are counted and timed under the template, and no label carries an id
    assert _count("/v1/things/{thing_id}", "GET", "200") == counted + 2
    assert _timed("/v1/things/{thing_id}", "GET") == timed + 2
    assert _count("/v1/things/ld_0001", "GET", "200") == 0


async def test_a_path_no_route_takes_is_counted_as_unmatched_with_its_404() -> None:
    app = _probe_app()
    before = _count("unmatched", "GET", "404")
    assert await _get(app, "/v1/no/such/path/ld_0003") == 404
    assert _count("unmatched", "GET", "404") == before + 1


async def test_a_route_that_raises_is_counted_with_the_500_the_client_gets() -> None:
    app = _probe_app()
    before = _count("/v1/broken", "GET", "500")
    assert await _get(app, "/v1/broken") == 500
    assert _count("/v1/broken", "GET", "500") == before + 1


async def test_a_known_route_called_with_the_wrong_method_keeps_its_template_with_the_405() -> None:
    app = _probe_app()
    before = _count("/v1/things/{thing_id}", "DELETE", "405")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe.test") as client:
        assert (await client.delete("/v1/things/ld_0004")).status_code == 405
    assert _count("/v1/things/{thing_id}", "DELETE", "405") == before + 1
