"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for the load generator only.

Why not httpx: at thousands of requests a second its per-request overhead would make the generator, not
ingest, the bottleneck on a 2-core machine. This client does only what the benchmark needs: POST a body,
read the status and the body, reuse connections, open more when all are busy (up to a cap).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


class HttpError(ConnectionError):
    """The server closed the connection or answered something that is not HTTP/1.1."""


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0


@dataclass
class Pool:
    """Connections to one host; ``post`` returns the status code."""

    host: str
    port: int
    max_connections: int
    # A kept connection idle this long is not reused: the server may close it at any moment (uvicorn's keep-alive
    # timeout is 5 s), and a request written into that close fails though the service was fine. Browsers and
    # httpx do the same (httpx: 5 s); a connection the server already closed is never reused either.
    keepalive_expiry_s: float = 4.0
    _idle: list[_Conn] = field(default_factory=list)
    _open: int = 0
    _freed: asyncio.Condition | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """Send one POST; returns the status and the response body. A broken connection raises HttpError."""
        conn = await self._acquire()
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        try:
            conn.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            status, keep, payload = await _read_response(conn.reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await self._discard(conn)
            raise HttpError(type(exc).__name__) from exc
        except BaseException:
            await self._discard(conn)
            raise
        if keep:
            await self._release(conn)
        else:
            await self._discard(conn)
        return status, payload

    async def close(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.writer.close()
        self._open -= len(idle)

    async def _acquire(self) -> _Conn:
        if self._freed is None:
            self._freed = asyncio.Condition()
        async with self._freed:
            while True:
                self._drop_stale()
                if self._idle or self._open < self.max_connections:
                    break
                await self._freed.wait()
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except BaseException:
            async with self._freed:
                self._open -= 1
                self._freed.notify()
            raise
        return _Conn(reader, writer)

    def _drop_stale(self) -> None:
        now = time.monotonic()
        fresh: list[_Conn] = []
        for conn in self._idle:
            if now - conn.idle_since < self.keepalive_expiry_s and not conn.reader.at_eof():
                fresh.append(conn)
            else:
                conn.writer.close()
                self._open -= 1
        self._idle = fresh

    async def _release(self, conn: _Conn) -> None:
        assert self._freed is not None
        conn.idle_since = time.monotonic()
        async with self._freed:
            self._idle.append(conn)
            self._freed.notify()

    async def _discard(self, conn: _Conn) -> None:
        conn.writer.close()
        assert self._freed is not None
        async with self._freed:
            self._open -= 1
            self._freed.notify()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    status_line = await reader.readline()
    if not status_line.startswith(b"HTTP/1."):
        raise HttpError("not an HTTP/1.x response")
    status = int(status_line.split(b" ", 2)[1])
    length = 0
    chunked = False
    keep = True
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    payload = b""
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            payload += (await reader.readexactly(size + 2))[:-2]
            if size == 0:
                break
    elif length:
        payload = await reader.readexactly(length)
    return status, keep, payload
