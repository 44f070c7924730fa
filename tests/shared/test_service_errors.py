"""Database faults in any service's request (shared/service.py): a clear 503 to retry, never a bare 500."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from shared.service import create_service_app


@asynccontextmanager
async def _nothing_to_open(_: FastAPI) -> AsyncIterator[None]:
    yield


class _Gone(Exception):
    """What asyncpg raises under SQLAlchemy for a connection the server closed."""


def _app() -> FastAPI:
    router = APIRouter()

    @router.get("/v1/restarted")
    async def restarted() -> None:
        # a pooled connection found dead on first use after the database restarted
        raise OperationalError("SELECT 1", {}, _Gone("connection is closed"), connection_invalidated=True)

    @router.get("/v1/saturated")
    async def saturated() -> None:
        raise PoolTimeoutError("QueuePool limit of size 5 overflow 5 reached")

    @router.get("/v1/bug")
    async def bug() -> None:
        raise IntegrityError("INSERT INTO people VALUES (:email)", {"email": "taro@example.co.jp"}, ValueError("dup"))

    return create_service_app(service="errors-probe", lifespan=_nothing_to_open, routers=[router], description="probe")


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe.test") as client:
        return await client.get(path)


async def test_a_dead_pooled_connection_is_answered_503_with_retry_after() -> None:
    # When a request's connection turns out dead (the database restarted since it was pooled)
    response = await _get("/v1/restarted")
    # Then the client is told to retry, not handed a 500
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] == "database_unavailable"


async def test_a_saturated_pool_is_answered_503() -> None:
    response = await _get("/v1/saturated")
    assert response.status_code == 503
    assert response.json()["error"] == "database_unavailable"


async def test_a_database_error_that_retrying_cannot_fix_is_a_500_without_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # When a statement fails for a reason a retry would not change (a bug)
    with caplog.at_level(logging.INFO):
        response = await _get("/v1/bug")
    # Then it is an internal error, and the statement or its values are not echoed to the client
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error"}
    # And it is logged by class, without the statement's parameters (personal data)
    logged = [r for r in caplog.records if r.name == "shared.service"]
    assert [getattr(r, "fields", {}).get("error") for r in logged] == ["IntegrityError"]
    assert "taro@example.co.jp" not in caplog.text + "".join(str(r.__dict__) for r in logged)
