"""A minimal keep-alive HTTP server for the generator's tests: answers every POST 202."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

_RESPONSE = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}"


@asynccontextmanager
async def keep_alive_server(after_response: Callable[[], float | None]) -> AsyncIterator[tuple[int, list[int]]]:
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
