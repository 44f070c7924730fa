"""The group commit's connections: no pre-ping, so a connection found dead costs one retry, never a lost step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import cast

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from services.ingest.intake import Intake
from services.ingest.producer import EventPublisher


class _Engine:
    """Hands out stand-in connections; the first ``dead`` of them fail the way a connection the database dropped
    does (SQLAlchemy invalidates it)."""

    def __init__(self, dead: int, invalidated: bool = True) -> None:
        self.dead = dead
        self.invalidated = invalidated
        self.connections = 0

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        self.connections += 1
        if self.connections <= self.dead:
            raise DBAPIError("SELECT 1", {}, ConnectionError("gone"), connection_invalidated=self.invalidated)
        yield cast(AsyncConnection, object())


def _intake(engine: _Engine) -> Intake:
    sessions = cast(async_sessionmaker[AsyncSession], None)
    return Intake(EventPublisher(None, 1.0), sessions, timedelta(hours=24), cast(AsyncEngine, engine))


async def _step(_: AsyncConnection) -> str:
    return "done"


async def test_a_step_on_a_connection_found_dead_runs_once_more_on_a_fresh_one() -> None:
    engine = _Engine(dead=1)
    assert await _intake(engine)._on_group_connection(_step) == "done"
    assert engine.connections == 2


async def test_a_step_is_retried_only_once_so_a_database_that_is_gone_still_fails_fast() -> None:
    engine = _Engine(dead=2)
    with pytest.raises(DBAPIError):
        await _intake(engine)._on_group_connection(_step)
    assert engine.connections == 2


async def test_an_error_that_is_not_a_dropped_connection_is_not_retried() -> None:
    engine = _Engine(dead=1, invalidated=False)
    with pytest.raises(DBAPIError):
        await _intake(engine)._on_group_connection(_step)
    assert engine.connections == 1
