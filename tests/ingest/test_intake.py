"""The group commit's connections: each step keeps one open, with no pre-ping, so a connection found dead costs one
retry, never a lost step, and a connection left in an unknown state is never used again."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import cast

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from services.ingest.intake import HeldConnection, Intake
from services.ingest.producer import EventPublisher


class _Connection:
    def __init__(self, dead: bool, invalidated: bool) -> None:
        self.dead = dead
        self.invalidated_when_used = invalidated
        self.closed = False
        self.invalidated = False

    async def close(self) -> None:
        self.closed = True


class _Engine:
    """Hands out stand-in connections; the first ``dead`` of them fail the way a connection the database dropped
    does (SQLAlchemy invalidates it)."""

    def __init__(self, dead: int, invalidated: bool = True) -> None:
        self.dead = dead
        self.invalidated = invalidated
        self.handed_out: list[_Connection] = []

    @property
    def connections(self) -> int:
        return len(self.handed_out)

    async def connect(self) -> _Connection:
        conn = _Connection(dead=len(self.handed_out) < self.dead, invalidated=self.invalidated)
        self.handed_out.append(conn)
        return conn


async def _step(conn: AsyncConnection) -> str:
    fake = cast(_Connection, conn)
    if fake.dead:
        fake.invalidated = fake.invalidated_when_used
        raise DBAPIError("SELECT 1", {}, ConnectionError("gone"), connection_invalidated=fake.invalidated)
    return "done"


def _held(engine: _Engine) -> HeldConnection:
    return HeldConnection(cast(AsyncEngine, engine))


async def test_steps_share_one_kept_connection() -> None:
    engine = _Engine(dead=0)
    held = _held(engine)
    assert [await held.run(_step) for _ in range(3)] == ["done"] * 3
    assert engine.connections == 1


async def test_a_step_on_a_connection_found_dead_runs_once_more_on_a_fresh_one() -> None:
    engine = _Engine(dead=1)
    assert await _held(engine).run(_step) == "done"
    assert engine.connections == 2
    assert engine.handed_out[0].closed  # the dead one was given back


async def test_a_step_is_retried_only_once_so_a_database_that_is_gone_still_fails_fast() -> None:
    engine = _Engine(dead=2)
    with pytest.raises(DBAPIError):
        await _held(engine).run(_step)
    assert engine.connections == 2


async def test_an_error_that_is_not_a_dropped_connection_is_not_retried_and_the_next_step_starts_fresh() -> None:
    engine = _Engine(dead=1, invalidated=False)
    held = _held(engine)
    with pytest.raises(DBAPIError):
        await held.run(_step)
    assert engine.connections == 1
    assert await held.run(_step) == "done"
    assert engine.connections == 2


async def test_a_step_cancelled_mid_statement_leaves_its_connection_behind() -> None:
    engine = _Engine(dead=0)
    held = _held(engine)
    started = asyncio.Event()

    async def hangs(_: AsyncConnection) -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    task = asyncio.create_task(held.run(hangs))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.handed_out[0].closed
    assert await held.run(_step) == "done"
    assert engine.connections == 2


async def test_closing_the_intake_gives_both_kept_connections_back() -> None:
    engine = _Engine(dead=0)
    sessions = cast(async_sessionmaker[AsyncSession], None)
    intake = Intake(EventPublisher(None, 1.0), sessions, timedelta(hours=24), cast(AsyncEngine, engine))
    await intake._lookup_conn.run(_step)
    await intake._remember_conn.run(_step)
    await intake.close()
    assert [c.closed for c in engine.handed_out] == [True, True]
