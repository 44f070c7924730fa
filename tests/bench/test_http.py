"""The generator's HTTP client never reuses a kept connection the server closed or may be closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from bench.http import Pool

_RESPONSE = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}"


async def _server(after_response: Callable[[], float | None]) -> AsyncIterator[tuple[int, list[int]]]:
    """A keep-alive server; ``after_response`` says how long to keep a connection idle before closing it."""
    served: list[int] = []  # requests per connection

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(0)
        me = len(served) - 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                served[me] += 1
                writer.write(_RESPONSE)
                await writer.drain()
                idle = after_response()
                if idle is not None:
                    await asyncio.sleep(idle)
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], served
    finally:
        server.close()


@pytest.fixture
async def closing_server() -> AsyncIterator[tuple[int, list[int]]]:
    # closes every connection right after its first response, as a server whose keep-alive timer fired
    async for found in _server(lambda: 0.0):
        yield found


@pytest.fixture
async def keeping_server() -> AsyncIterator[tuple[int, list[int]]]:
    async for found in _server(lambda: None):
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
