"""Past MAX_IN_FLIGHT event requests in progress, ingest answers 503 at once instead of queueing them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from services.ingest.app import LoadShedder
from services.ingest.settings import get_settings
from tests.conftest import eventually


class HeldApp:
    """An inner app whose event requests wait until released (or fail when told to); others answer at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.fail = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith("/v1/"):
            self.entered += 1
            await self.release.wait()
            if self.fail:
                raise RuntimeError("the route failed")
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
def limit_two(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MAX_IN_FLIGHT", "2")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def shed() -> float:
    return REGISTRY.get_sample_value("leadflow_ingest_shed_total") or 0.0


def entered(inner: HeldApp, count: int) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return inner.entered == count

    return probe


async def test_the_request_over_the_limit_gets_503_with_retry_after_and_the_held_ones_complete(
    limit_two: None,
) -> None:
    inner = HeldApp()
    shedder = LoadShedder(inner)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=shedder), base_url="http://ingest.test") as client:
        # Given two event requests in progress
        held = [asyncio.create_task(client.post("/v1/events/form", json={})) for _ in range(2)]
        await eventually(entered(inner, 2), within=5)
        shed_before = shed()
        # When a third arrives
        refused = await client.post("/v1/events/form", json={})
        # Then it is refused at once, saying when to retry, without reaching the route
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["error"] == "overloaded"
        assert inner.entered == 2
        assert shed() == shed_before + 1
        # And operations endpoints still answer while the door is full
        assert (await client.get("/healthz")).status_code == 202
        # And once the held requests finish, a new one is taken
        inner.release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [202, 202]
        assert (await client.post("/v1/events/form", json={})).status_code == 202


async def test_a_request_that_failed_frees_its_place(limit_two: None) -> None:
    inner = HeldApp()
    inner.fail = True
    inner.release.set()
    shedder = LoadShedder(inner)
    for _ in range(3):  # more failures than places: each must give its place back
        with pytest.raises(RuntimeError):
            await shedder({"type": "http", "path": "/v1/events/form", "method": "POST", "headers": []}, _no_body, _drop)
    assert shedder.in_flight == 0


async def test_zero_means_no_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_IN_FLIGHT", "0")
    get_settings.cache_clear()
    try:
        inner = HeldApp()
        shedder = LoadShedder(inner)
        transport = httpx.ASGITransport(app=shedder)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
            held = [asyncio.create_task(client.post("/v1/events/form", json={})) for _ in range(300)]
            await eventually(entered(inner, 300), within=5)
            inner.release.set()
            assert {r.status_code for r in await asyncio.gather(*held)} == {202}
    finally:
        get_settings.cache_clear()


async def _no_body() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _drop(message: object) -> None:
    return None
