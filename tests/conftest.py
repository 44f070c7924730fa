"""Fixtures for integration tests: the real Kafka and PostgreSQL, the four services, the Slack/SMTP stand-ins.

Where the stack comes from, in order:
1. ``LEADFLOW_TEST_INGEST_URL`` (and the other ``LEADFLOW_TEST_*_URL``, with ``KAFKA_BOOTSTRAP_SERVERS`` and
   ``DATABASE_URL``) set: an existing stack, used as is.
2. A Docker engine answers: Kafka and PostgreSQL in testcontainers, the services as local processes.
3. Otherwise: the project's own ``test`` stack layout (``leadflow/stack.py``), all local processes, on ports
   and data folders of its own so a running demo stack is never touched.
Pure tests (tests/<service>/test_domain.py …) use none of this.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from leadflow import stack

T = TypeVar("T")


@dataclass(frozen=True)
class StackUrls:
    ingest: str
    scoring: str
    router: str
    notifier: str
    standins: str
    logs: str | None
    kafka: str
    database_url: str


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=10).returncode == 0


def _from_env() -> StackUrls | None:
    ingest = os.environ.get("LEADFLOW_TEST_INGEST_URL")
    if not ingest:
        return None
    return StackUrls(
        ingest=ingest,
        scoring=os.environ["LEADFLOW_TEST_SCORING_URL"],
        router=os.environ["LEADFLOW_TEST_ROUTER_URL"],
        notifier=os.environ["LEADFLOW_TEST_NOTIFIER_URL"],
        standins=os.environ["LEADFLOW_TEST_STANDINS_URL"],
        logs=os.environ.get("LEADFLOW_TEST_LOGS"),
        kafka=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        database_url=os.environ["DATABASE_URL"],
    )


def _urls(lay: stack.Layout) -> StackUrls:
    return StackUrls(
        ingest=lay.service("ingest").url,
        scoring=lay.service("scoring").url,
        router=lay.service("router").url,
        notifier=lay.service("notifier").url,
        standins=lay.standin_url,
        logs=str(lay.logs),
        kafka=stack.kafka_bootstrap(lay),
        database_url=stack.database_url(lay),
    )


@pytest.fixture(scope="session")
def stack_urls() -> Iterator[StackUrls]:
    """The running stack the integration tests talk to (started here when needed)."""
    existing = _from_env()
    if existing is not None:
        yield existing
        return
    lay = stack.layout_for_tests()
    containers: list[Any] = []
    if _docker_answers():  # pragma: no cover - hosts with a Docker engine only
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft()
        postgres = PostgresContainer("postgres:16", username="leadflow", password="leadflow", dbname="leadflow")
        containers = [kafka.start(), postgres.start()]
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = kafka.get_bootstrap_server()
        os.environ["DATABASE_URL"] = postgres.get_connection_url(driver="asyncpg")
    keep = os.environ.get("LEADFLOW_KEEP_STACK") == "1"
    if not keep and not containers:
        # Every run starts from empty data, as on a fresh machine: what earlier runs left (hundreds of open leads
        # after a few runs) would otherwise change what later runs see, e.g. push a new lead off the console's
        # first page. A kept stack (LEADFLOW_KEEP_STACK=1) is reused as it is, for quick reruns.
        stack.reset(lay)
    stack.up(lay)
    try:
        yield _urls(lay)
    finally:
        if not keep:
            stack.down(lay)
        for container in containers:  # pragma: no cover
            container.stop()


@pytest.fixture(scope="session")
def test_layout() -> stack.Layout:
    return stack.layout_for_tests()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def eventually(probe: Callable[[], Awaitable[T | None]], *, within: float = 30, interval: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; fail with a clear message after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last value: {last!r})")
