"""The console mounted on a minimal router-shaped app, served by uvicorn in a thread for the browser tests.

The router's real app includes the same ``router``; this one opens only what the console needs (the router
database and routing.yaml), so the tests do not start a second router consumer in the stack's group.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from services.router.config import load_routing_config
from services.router.console import router as console_router
from services.router.console.settings import ConsoleSettings
from shared.db import create_engine, session_factory
from shared.service import create_service_app


def build_app(*, database_url: str, routing_path: Path, settings: ConsoleSettings) -> FastAPI:
    """A router-shaped app with the console included, as services/router/app.py includes it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(database_url, 2)
        app.state.sessions = session_factory(engine)
        app.state.routing = load_routing_config(routing_path)
        try:
            yield
        finally:
            await engine.dispose()

    app = create_service_app(
        service="router-console-test", lifespan=lifespan, routers=[console_router], description="console tests"
    )
    app.state.console_settings = settings
    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on a free port from a thread of its own (the browser calls block the test's loop)."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="console-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the console test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
