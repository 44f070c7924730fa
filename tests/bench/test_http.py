"""The generator's HTTP client never reuses a kept connection the server closed or may be closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bench.http import Pool
from tests.bench.servers import keep_alive_server


@pytest.fixture
async def closing_server() -> AsyncIterator[tuple[int, list[int]]]:
    # closes every connection right after its first response, as a server whose keep-alive timer fired
    async with keep_alive_server(lambda: 0.0) as found:
        yield found


@pytest.fixture
async def keeping_server() -> AsyncIterator[tuple[int, list[int]]]:
    async with keep_alive_server(lambda: None) as found:
        yield found


async def test_a_connection_the_server_closed_is_not_reused(closing_server: tuple[int, list[int]]) -> None:
    port, served = closing_server
    pool = Pool("127.0.0.1", port, max_connections=1)
    try:
        for _ in range(3):
            status, _body = await pool.post("/v1/events/form", b"{}", {})
            assert status == 202
            await asyncio.sleep(0.05)  # the server's close reaches the client while the connection is idle
    finally:
        await pool.close()
    assert served == [1, 1, 1]


async def test_an_idle_connection_past_its_expiry_is_replaced_and_a_fresh_one_reused(
    keeping_server: tuple[int, list[int]],
) -> None:
    port, served = keeping_server
    pool = Pool("127.0.0.1", port, max_connections=1, keepalive_expiry_s=0.1)
    try:
        await pool.post("/v1/events/form", b"{}", {})
        await pool.post("/v1/events/form", b"{}", {})  # at once: the same connection
        await asyncio.sleep(0.2)
        await pool.post("/v1/events/form", b"{}", {})  # expired: a new one
    finally:
        await pool.close()
    assert served == [2, 1]
