"""Database helpers: one engine per service, one transaction per unit of work, migrations under a lock."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)


def service_metadata(schema: str) -> MetaData:
    """Each service owns one PostgreSQL schema: its tables, its migration history."""
    return MetaData(schema=schema)


def json_text(value: object) -> str:
    """JSON columns' values as text, by orjson (py-spy found the standard library's encoder at ~5 % of the router).

    A value orjson refuses (an integer beyond 64 bits) falls back to the standard library, as before.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def create_engine(url: str, pool_size: int = 5, pool_timeout_s: float = 5.0) -> AsyncEngine:
    """An engine whose pool gives up after ``pool_timeout_s``: a request should get a quick 503, not hang 30 s."""
    # No pre-ping: it was a round trip on every checkout, a tenth of a small consumer batch's CPU. A connection
    # found dead on first use (the database restarted) raises a disconnect error, on which SQLAlchemy renews the
    # whole pool; that one unit of work fails as transient and is retried (a consumer's batch) or answered 503
    # with Retry-After (a request, shared/service.py).
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_timeout=pool_timeout_s,
        json_serializer=json_text,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Commit when the block ends, roll back when it raises: nothing half-written."""
    async with sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def _alembic_config(script_location: Path, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["schema"] = schema
    return cfg


async def migrate(engine: AsyncEngine, script_location: Path, schema: str) -> None:
    """Upgrade this service's schema to head; an advisory lock keeps concurrent instances from racing."""
    # A stable key (not hash(), which is salted per process) so every instance contends for the same lock.
    lock_key = zlib.crc32(f"leadflow-migrate-{schema}".encode())

    def _upgrade(connection: Connection) -> None:
        cfg = _alembic_config(script_location, schema)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")

    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key})
        try:
            await conn.run_sync(_upgrade)
            await conn.commit()
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key})
            await conn.commit()
    log.info("migrations applied", extra={"fields": {"schema": schema}})


def run_migrations_online(target_metadata: MetaData) -> None:
    """The body of every service's alembic env.py: use the connection handed over by ``migrate``."""
    from alembic import context

    config = context.config
    connection: Connection | None = config.attributes.get("connection")
    schema: str = config.attributes.get("schema") or str(target_metadata.schema)
    if connection is None:
        raise RuntimeError("run migrations with `leadflow migrate` (or shared.db.migrate), not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
    )
    with context.begin_transaction():
        context.run_migrations()
