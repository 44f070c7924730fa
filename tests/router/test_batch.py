"""A whole consumer batch, applied in one transaction with bulk reads and writes, leaves exactly what applying
its records one by one leaves: the same decisions and traces, owners, SLA timers, rotations and messages."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.router import repository
from services.router.config import RoutingConfig, parse_routing_config
from services.router.consumer import RouterHandler
from shared.db import unit_of_work
from shared.events import CloudEvent, EventKind, LeadScored, Rank, ScoreReason, Stage
from tests.conftest import StackUrls
from tests.router.conftest import RouterDb, as_record, fresh_router_db, scored_update

pytestmark = pytest.mark.integration

T0 = datetime(2031, 3, 5, 10, 0, tzinfo=UTC)

# Small capacities and all three strategies, so loads, turns and the fallback queue all matter.
CONFIG = """
regions: {US: amer}
segments: {enterprise_min: 1000, mid_min: 300}
teams:
  - id: enterprise
    name: Enterprise
    manager: {name: Hiroshi Yamamoto, email: hiroshi.yamamoto@example.com, slack_id: U0TEST100}
    strategy: weighted
    members: [rep-ent-1, rep-ent-2]
  - id: mid
    name: Mid-market
    manager: {name: Sarah Johnson, email: sarah.johnson@example.com, slack_id: U0TEST101}
    strategy: least_loaded
    members: [rep-mid-1, rep-mid-2]
  - id: inside
    name: Inside Sales
    manager: {name: Sarah Johnson, email: sarah.johnson@example.com, slack_id: U0TEST101}
    strategy: round_robin
    members: [rep-in-1, rep-in-2, rep-in-3]
reps:
  - {id: rep-ent-1, name: A, email: a@example.com, slack_id: U1, team: enterprise, timezone: UTC, capacity: 4,
     weight: 2}
  - {id: rep-ent-2, name: B, email: b@example.com, slack_id: U2, team: enterprise, timezone: UTC, capacity: 4}
  - {id: rep-mid-1, name: C, email: c@example.com, slack_id: U3, team: mid, timezone: UTC, capacity: 3}
  - {id: rep-mid-2, name: D, email: d@example.com, slack_id: U4, team: mid, timezone: UTC, capacity: 5}
  - {id: rep-in-1, name: E, email: e@example.com, slack_id: U5, team: inside, timezone: UTC, capacity: 4}
  - {id: rep-in-2, name: F, email: f@example.com, slack_id: U6, team: inside, timezone: UTC, capacity: 4}
  - {id: rep-in-3, name: G, email: g@example.com, slack_id: U7, team: inside, timezone: UTC, capacity: 4}
rules:
  - {id: enterprise, when: {segment: [enterprise]}, team: enterprise}
  - {id: mid, when: {segment: [mid]}, team: mid}
  - {id: default, team: inside}
fallback_queue:
  id: unassigned
  name: Unassigned leads
  manager: {name: Sarah Johnson, email: sarah.johnson@example.com, slack_id: U0TEST101}
  slack_channel: C0TESTQUEUE
account_match: {enabled: true}
triggers:
  on_mql: true
  rank_a_kinds: [demo_request, contact, pricing_inquiry, document_request, consultation_request]
seminar_follow_up: {enabled: true}
sla:
  windows: {rank_a: 1h, mql: 24h, sql: 7d, seminar_follow_up: 24h}
  reminders_at: [0.5, 0.9]
  follow_up_target: 5
"""

STATE = {
    "decisions": "SELECT decision_id, lead_id, kind, rep_id, team_id, queue_id, rule_id, reason, trace, sla_kind,"
    " sla_due_at, decided_at, lead FROM router.decisions ORDER BY decision_id",
    "leads": "SELECT lead_id, company_key, total, fit, intent, reasons, rank, temperature, stage, routed,"
    " owner_rep_id, team_id, queue_id, decision_id, sla_kind, sla_due_at, sla_status, why, updated_at,"
    " excluded_rep_ids, follow_up_attempts, first_contact_at FROM router.leads ORDER BY lead_id",
    "timers": "SELECT timer_id, decision_id, lead_id, kind, fraction, fire_at, status, sla_kind, due_at, lead"
    " FROM router.sla_timers ORDER BY timer_id",
    "rotation": "SELECT team_id, last_rep_id, current_weights FROM router.rotation ORDER BY team_id",
    "outbox": "SELECT id, topic, key, value FROM router.outbox ORDER BY id",
    "applied": "SELECT event_id FROM router.applied ORDER BY event_id",
}


def ticking() -> Callable[[], datetime]:
    """A clock a microsecond later at every call, the same sequence for every handler."""
    ticks = itertools.count()
    return lambda: T0 + timedelta(microseconds=next(ticks))


def handler(db: RouterDb, config: RoutingConfig, clock: Callable[[], datetime]) -> RouterHandler:
    return RouterHandler(db.sessions, db.outbox(), config=lambda: config, clock=clock)


def update(lead: int, **kwargs: Any) -> CloudEvent[LeadScored]:
    """A scored update of lead number ``lead``; leads of the same tens share an account."""
    lead_id = f"ld_batch{lead:04d}"
    cloud = scored_update(lead_id, T0, company_key=f"domain:account{lead // 10}.example.com", **kwargs)
    reason = ScoreReason(rule="fit.size", label="Company size", points=10, value=10)
    return cloud.model_copy(update={"data": cloud.data.model_copy(update={"reasons": [reason]})})


def background(lead: int, stage: Stage = Stage.LEAD, employees: int = 120) -> CloudEvent[LeadScored]:
    return update(
        lead, kind=EventKind.PAGE_VIEW, stage=stage, previous_stage=stage, employees=employees, rank=Rank.C, total=12
    )


def mixed_batch() -> list[CloudEvent[LeadScored]]:
    """Background activity on many leads, new MQLs and rank-A actions over three segments and shared
    accounts, repeated actions, closed leads freeing capacity, a redelivery, webinar attendances, and sales
    feedback (contact, rejection) in the middle of it all."""
    records: list[CloudEvent[LeadScored]] = []
    sizes = (120, 500, 5000)
    for lead in range(36):
        records.append(background(lead, employees=sizes[lead % 3]))
    for lead in range(0, 36, 2):
        records.append(update(lead, employees=sizes[lead % 3]))  # rank-A demo request
    for lead in range(1, 36, 4):
        records.append(update(lead, kind=EventKind.EMAIL_CLICK, employees=sizes[lead % 3], rank=Rank.B, total=55))
    records.append(update(0, employees=sizes[0]))  # a routed lead asks again: not routed twice
    records.append(background(2, stage=Stage.WON, employees=sizes[2]))  # closed: frees its owner's capacity
    records.append(records[40])  # redelivered within the batch
    records.append(update(4, feedback=[(EventKind.SALES_CONTACTED, {})], employees=sizes[4 % 3]))
    records.append(update(6, feedback=[(EventKind.SALES_REJECTED, {"reason": "not mine"})], employees=sizes[0]))
    records.append(update(8, kind=EventKind.WEBINAR_ATTENDED, stage=Stage.MQL, previous_stage=Stage.MQL))
    records.append(background(3))
    records.append(update(3, kind=EventKind.WEBINAR_ATTENDED, stage=Stage.LEAD, previous_stage=Stage.LEAD))
    for lead in range(36, 60):
        records.append(background(lead, employees=sizes[lead % 3]))
        if lead % 2:
            records.append(update(lead, employees=sizes[lead % 3]))
    return records


async def state_of(db: RouterDb) -> dict[str, list[Any]]:
    return {name: [tuple(row) for row in await db.rows(sql)] for name, sql in STATE.items()}


async def apply_each(db: RouterDb, records: Sequence[CloudEvent[LeadScored]], config: RoutingConfig) -> None:
    """The reference: each record in a transaction of its own, every read and write against the database."""
    one = handler(db, config, ticking())
    for cloud in records:
        async with unit_of_work(db.sessions) as session:
            if not await repository.mark_applied(session, cloud.id):
                continue
            overrides = await repository.load_overrides(session)
            messages = await one._apply_one(session, cloud, config, overrides, None, one.clock())
            await one.outbox.add(session, messages)


async def apply_batch(db: RouterDb, records: Sequence[CloudEvent[LeadScored]], config: RoutingConfig) -> None:
    await handler(db, config, ticking()).apply([(as_record(cloud), cloud) for cloud in records])


async def test_a_mixed_batch_leaves_exactly_what_its_records_one_by_one_leave(stack_urls: StackUrls) -> None:
    # Given the same records for two empty router databases
    config = parse_routing_config(CONFIG)
    records = mixed_batch()
    async with fresh_router_db(stack_urls) as each, fresh_router_db(stack_urls) as whole:
        # When one gets them one by one, each read and written against the database, and the other as one batch
        await apply_each(each, records, config)
        await apply_batch(whole, records, config)
        expected, got = await state_of(each), await state_of(whole)
    # Then every table is the same, row for row
    assert got == expected
    # And the scenario did exercise what it meant to: accounts, capacity, the queue, reassignment, follow-ups
    decisions = expected["decisions"]
    assert {row[2] for row in decisions} >= {"assigned", "account_match", "fallback", "reassigned"}
    assert {row[3] for row in decisions} >= {"rep-ent-1", "rep-ent-2", "rep-mid-1", "rep-mid-2", "rep-in-1"}
    assert len(expected["outbox"]) == len(decisions) + 2  # and the two seminar follow-ups, never stored as decisions


async def test_a_batch_split_anywhere_leaves_the_same_as_one_batch(stack_urls: StackUrls) -> None:
    # Given the same records, as one batch for one database and as uneven batches for another
    config = parse_routing_config(CONFIG)
    records = mixed_batch()
    async with fresh_router_db(stack_urls) as whole, fresh_router_db(stack_urls) as split:
        await apply_batch(whole, records, config)
        clock = ticking()
        start = 0
        for size in itertools.cycle((7, 1, 23, 2)):
            chunk = records[start : start + size]
            if not chunk:
                break
            await handler(split, config, clock).apply([(as_record(cloud), cloud) for cloud in chunk])
            start += size
        # Then both hold the same
        assert await state_of(split) == await state_of(whole)


async def test_a_redelivered_batch_changes_nothing_and_publishes_nothing(stack_urls: StackUrls) -> None:
    # Given a batch applied once
    config = parse_routing_config(CONFIG)
    records = mixed_batch()
    async with fresh_router_db(stack_urls) as db:
        await apply_batch(db, records, config)
        before = await state_of(db)
        # When Kafka delivers the whole batch again
        again = await handler(db, config, ticking()).apply([(as_record(cloud), cloud) for cloud in records])
        # Then nothing is written and nothing is published
        assert again == []
        assert await state_of(db) == before


async def test_background_activity_costs_no_routing_reads(stack_urls: StackUrls, monkeypatch: Any) -> None:
    # Given a batch of activity on leads that do not qualify
    config = parse_routing_config(CONFIG)
    records = [background(lead) for lead in range(100, 160)]
    called: list[str] = []
    for name in ("open_loads", "lock_rotations", "outside_account_owners", "load_overrides"):
        original = getattr(repository, name)

        async def spy(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            called.append(_name)
            return await _original(*args, **kwargs)

        monkeypatch.setattr(repository, name, spy)
    async with fresh_router_db(stack_urls) as db:
        # When it is applied
        messages = await handler(db, config, ticking()).apply([(as_record(cloud), cloud) for cloud in records])
        # Then the projections are kept, nobody is routed, and no routing state was read
        assert messages == []
        assert await db.scalar("SELECT count(*) FROM router.leads WHERE NOT routed") == 60
    assert called == []
