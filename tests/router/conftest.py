"""Fixtures for the router's database-level tests: a private, migrated database on the test stack's server,
so SLA clocks can be driven with an injected clock without firing anyone else's timers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import ConsumerRecord
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router.app import MIGRATIONS
from services.router.config import RoutingConfig, load_routing_config
from services.router.consumer import RouterHandler
from services.router.models import SCHEMA, outbox
from services.router.sla_clock import SlaClock
from shared.db import create_engine, migrate, session_factory
from shared.events import (
    CloudEvent,
    CloudEventType,
    EventKind,
    LeadEvent,
    LeadScored,
    Person,
    Rank,
    Stage,
    Temperature,
    Topics,
)
from shared.kafka import Publisher
from shared.outbox import Outbox
from tests.conftest import StackUrls

FIXTURE_CONFIG = Path(__file__).parents[1] / "fixtures" / "config" / "routing.yaml"


@dataclass
class RouterDb:
    """A migrated router schema in a database of its own, with the adapters under test wired to it."""

    sessions: async_sessionmaker[AsyncSession]
    url: str
    config: RoutingConfig

    def outbox(self) -> Outbox:
        # No producer: these tests read what was written to the outbox; nothing here is ever published.
        return Outbox(outbox, Publisher(lambda: None, name="router-test"), self.sessions)

    def handler(self, now: datetime, config: RoutingConfig | None = None) -> RouterHandler:
        chosen = config or self.config
        return RouterHandler(self.sessions, self.outbox(), config=lambda: chosen, clock=lambda: now)

    def sla_clock(self, config: RoutingConfig | None = None) -> SlaClock:
        chosen = config or self.config
        return SlaClock(self.sessions, self.outbox(), config=lambda: chosen)

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.sessions() as session:
            return (await session.execute(sa.text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.sessions() as session:
            return list((await session.execute(sa.text(sql), params)).all())


@asynccontextmanager
async def fresh_router_db(stack_urls: StackUrls) -> AsyncIterator[RouterDb]:
    """A fresh database with the router's migrations applied; dropped afterwards."""
    base = make_url(stack_urls.database_url)
    name = f"lf_router_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.render_as_string(hide_password=False), pool_size=1)
    async with admin.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=5)
    try:
        await migrate(engine, MIGRATIONS, SCHEMA)
        yield RouterDb(session_factory(engine), url, load_routing_config(FIXTURE_CONFIG))
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(scope="module")
async def router_db(stack_urls: StackUrls) -> AsyncIterator[RouterDb]:
    """A fresh database with the router's migrations applied; dropped afterwards."""
    async with fresh_router_db(stack_urls) as db:
        yield db


def new_lead_id() -> str:
    return "ld_" + uuid.uuid4().hex[:24]


def scored_update(
    lead_id: str,
    at: datetime,
    *,
    kind: EventKind = EventKind.DEMO_REQUEST,
    stage: Stage = Stage.MQL,
    previous_stage: Stage = Stage.LEAD,
    company_key: str | None = None,
    employees: int = 120,
    feedback: list[tuple[EventKind, dict[str, Any]]] | None = None,
    rank: Rank = Rank.A,
    total: float = 75,
) -> CloudEvent[LeadScored]:
    """A LeadScored as scoring publishes it: a rank-A demo request by default, or sales feedback."""
    events = [
        LeadEvent(
            event_id=f"ev-{uuid.uuid4().hex[:12]}",
            lead_id=lead_id,
            channel="feedback" if feedback else "web_form",
            kind=k,
            occurred_at=at,
            received_at=at,
            source="test",
            details=details,
        )
        for k, details in (feedback or [(kind, {})])
    ]
    person = Person(
        email=f"{lead_id}@example.com",
        email_domain="example.com",
        company=f"Company {lead_id}",
        company_key=company_key or f"domain:{lead_id}.example.com",
        employees=employees,
        country="US",
    )
    data = LeadScored(
        lead_id=lead_id,
        person=person,
        fit=25,
        intent=total - 25,
        total=total,
        rank=rank,
        temperature=Temperature.HOT,
        stage=stage,
        previous_stage=previous_stage,
        reasons=[],
        trigger=events[0],
        new_events=events,
        model_version="test",
        scored_at=at,
    )
    return CloudEvent[LeadScored](
        id=f"sc-{uuid.uuid4().hex}",
        source="/test",
        type=CloudEventType.LEAD_SCORED,
        subject=lead_id,
        time=at,
        data=data,
    )


def as_record(cloud: CloudEvent[LeadScored]) -> ConsumerRecord[bytes, bytes]:
    value = cloud.to_bytes()
    return ConsumerRecord(Topics.SCORED, 0, 0, 0, 0, cloud.data.lead_id.encode(), value, None, 0, len(value), ())


async def deliver(
    db: RouterDb, cloud: CloudEvent[LeadScored], now: datetime, config: RoutingConfig | None = None
) -> list[Any]:
    """Hand one scored update to the router's consumer adapter, as Kafka would."""
    return await db.handler(now, config).apply([(as_record(cloud), cloud)])
