"""A TCP gate in front of the SMTP sink, so SMTP alone can be taken down while the Slack stand-in stays up.

The notifier is pointed at the gate for the run; closing the gate refuses new connections and cuts open
ones, exactly what a mail server that went away looks like from the notifier's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


class SmtpGate:
    """Forwards 127.0.0.1:<port> to the real sink while open; refuses connections while closed."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        """Start (or resume) forwarding."""
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def close(self) -> None:
        """Stop listening and cut every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        for writer in list(self._pipes):
            writer.close()
        self._pipes.clear()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self._pipes.update({client_writer, upstream_writer})
        await asyncio.gather(
            _pump(client_reader, upstream_writer), _pump(upstream_reader, client_writer), return_exceptions=True
        )
        self._pipes.difference_update({client_writer, upstream_writer})


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
