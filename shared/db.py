"""Database helpers: one engine per service, one transaction per unit of work, migrations under a lock."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import os
import sys
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import sqlalchemy as sa
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from alembic.config import Config

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
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["schema"] = schema
    return cfg


def head_revision(script_location: Path) -> str | None:
    """The one head of a migration folder, read from its scripts' ``revision`` / ``down_revision`` (None if not one)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted((script_location / "versions").glob("*.py")):
        for node in ast.parse(script.read_text()).body:
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
            if isinstance(node, ast.AnnAssign):
                target = node.target
            value = getattr(node, "value", None)
            if not isinstance(target, ast.Name) or value is None:
                continue
            if target.id == "revision":
                revisions.add(ast.literal_eval(value))
            elif target.id == "down_revision":
                down = ast.literal_eval(value)
                parents.update([down] if isinstance(down, str) else down or ())
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def _current_revision(conn: AsyncConnection, schema: str) -> str | None:
    table = f'"{schema}".alembic_version'
    if (await conn.execute(text("SELECT to_regclass(:t)"), {"t": table})).scalar() is None:
        return None
    version = sa.table("alembic_version", sa.column("version_num"), schema=schema)
    rows = (await conn.execute(sa.select(version.c.version_num))).scalars().all()
    return rows[0] if len(rows) == 1 else None


async def migrate(engine: AsyncEngine, script_location: Path, schema: str) -> None:
    """Upgrade this service's schema to head; an advisory lock keeps concurrent instances from racing.

    Alembic runs in a child process, and only when the schema is not at head already: imported, it stays in the
    service for good (~9 MB of every service's memory, for a step taken once per release).
    """
    # A stable key (not hash(), which is salted per process) so every instance contends for the same lock.
    lock_key = zlib.crc32(f"leadflow-migrate-{schema}".encode())
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key})
        await conn.commit()  # the schema exists for every connection (the child's) from here; the lock is the session's
        behind = False
        try:
            head = head_revision(script_location)
            behind = head is None or await _current_revision(conn, schema) != head
            if behind:
                await conn.commit()  # nothing of ours open while the child migrates
                await _upgrade_in_child(engine, script_location, schema)
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key})
            await conn.commit()
    log.info("migrations applied" if behind else "schema at head", extra={"fields": {"schema": schema}})


async def _upgrade_in_child(engine: AsyncEngine, script_location: Path, schema: str) -> None:
    # The URL travels in the environment, not the command line, where any user of the machine could read it.
    env = {**os.environ, "LEADFLOW_MIGRATE_URL": engine.url.render_as_string(hide_password=False)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.db", str(script_location), schema,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await child.communicate()
    if child.returncode != 0:
        tail = output.decode(errors="replace")[-2000:]
        raise RuntimeError(f"migrating schema {schema!r} failed (exit {child.returncode}):\n{tail}")


async def _upgrade_here(url: str, script_location: Path, schema: str) -> None:
    """The child's work: Alembic's upgrade to head on one connection (the parent holds the lock)."""
    from alembic import command

    def upgrade(connection: Connection) -> None:
        cfg = _alembic_config(script_location, schema)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(upgrade)
            await conn.commit()
    finally:
        await engine.dispose()


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


if __name__ == "__main__":  # the child of ``migrate``: python -m shared.db <script_location> <schema>
    asyncio.run(_upgrade_here(os.environ["LEADFLOW_MIGRATE_URL"], Path(sys.argv[1]), sys.argv[2]))
