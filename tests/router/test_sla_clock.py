"""SLA clocks against the real database, driven by an injected clock: reminders, breach, escalation,
reassignment, contact stopping the clock, rejections, and timers that survive restarts and fire once."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from services.router.models import outbox as outbox_table
from services.router.sla_clock import SlaClock
from shared.db import create_engine, session_factory
from shared.events import EventKind, Stage, Topics
from shared.kafka import OutgoingMessage, Publisher
from shared.outbox import Outbox
from tests.router.conftest import RouterDb, deliver, new_lead_id, scored_update

pytestmark = pytest.mark.integration

# Each test starts a month after the previous one, so one test's ticks never reach another's timers.
_BASE = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
_MONTHS = itertools.count()


@pytest.fixture
def t0() -> datetime:
    return _BASE + timedelta(days=30 * next(_MONTHS))


def about(messages: list[OutgoingMessage], lead_id: str, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(m.value)["data"] for m in messages if m.key == lead_id and m.topic == topic]


async def route_new_lead(db: RouterDb, t0: datetime) -> tuple[str, dict[str, Any]]:
    lead_id = new_lead_id()
    [message] = await deliver(db, scored_update(lead_id, t0), t0)
    return lead_id, orjson.loads(message.value)["data"]


async def feedback(db: RouterDb, lead_id: str, at: datetime, kind: EventKind, **details: Any) -> list[OutgoingMessage]:
    update = scored_update(lead_id, at, stage=Stage.MQL, previous_stage=Stage.MQL, feedback=[(kind, details)])
    return await deliver(db, update, at)


async def test_a_routed_lead_stores_two_reminders_and_a_breach(router_db: RouterDb, t0: datetime) -> None:
    # When a rank-A lead is routed
    lead_id, decision = await route_new_lead(router_db, t0)
    # Then its clock is three pending timers: 30 and 54 minutes (reminders) and 60 minutes (breach)
    rows = await router_db.rows(
        "SELECT kind, fire_at, status FROM router.sla_timers WHERE lead_id = :l ORDER BY fire_at", l=lead_id
    )
    assert [(r.kind, r.fire_at - t0, r.status) for r in rows] == [
        ("reminder", timedelta(minutes=30), "pending"),
        ("reminder", timedelta(minutes=54), "pending"),
        ("breach", timedelta(hours=1), "pending"),
    ]
    assert decision["sla_due_at"] == (t0 + timedelta(hours=1)).isoformat().replace("+00:00", "Z")


async def test_a_reminder_fires_at_half_the_window_and_only_once(router_db: RouterDb, t0: datetime) -> None:
    # Given a lead routed at t0 with a one-hour SLA
    lead_id, decision = await route_new_lead(router_db, t0)
    clock = router_db.sla_clock()
    # When the clock ticks just before half the window, at it, and again later
    early = await clock.tick(t0 + timedelta(minutes=29))
    on_time = await clock.tick(t0 + timedelta(minutes=30))
    again = await clock.tick(t0 + timedelta(minutes=31))
    # Then exactly one reminder went to the owner, at 50%
    assert about(early, lead_id, Topics.SLA) == []
    [reminder] = about(on_time, lead_id, Topics.SLA)
    assert (reminder["kind"], reminder["reminder_fraction"]) == ("reminder", 0.5)
    assert reminder["owner"]["rep_id"] == decision["owner"]["rep_id"]
    assert about(again, lead_id, Topics.SLA) == []


async def test_at_the_deadline_the_manager_is_alerted_and_the_lead_reassigned(
    router_db: RouterDb, t0: datetime
) -> None:
    # Given a lead routed at t0 and never contacted
    lead_id, decision = await route_new_lead(router_db, t0)
    first_owner = decision["owner"]["rep_id"]
    breached_before = _sample("leadflow_sla_outcomes_total", sla_kind="rank_a", outcome="breached")
    # When the clock first ticks after the deadline
    messages = await router_db.sla_clock().tick(t0 + timedelta(hours=1, seconds=5))
    # Then every breach this tick fired (other tests' leads share the clock) is counted for the SLA dashboard
    fired = [m for m in messages if m.topic == Topics.SLA and orjson.loads(m.value)["data"]["kind"] == "breach"]
    assert len(fired) >= 1
    assert _sample("leadflow_sla_outcomes_total", sla_kind="rank_a", outcome="breached") == breached_before + len(fired)
    # Then a breach escalates to the owner's manager and the fallback channel, naming how late it is
    [breach] = about(messages, lead_id, Topics.SLA)
    assert breach["kind"] == "breach"
    assert breach["escalate_to"]["name"] == "Sarah Johnson"
    assert (breach["team_channel"], breach["late_by_seconds"]) == ("C0TESTQUEUE", 5.0)
    # And the lead is reassigned to another rep of the team, with a fresh one-hour clock
    [reassigned] = about(messages, lead_id, Topics.DECISIONS)
    assert reassigned["kind"] == "reassigned"
    assert reassigned["owner"]["rep_id"] != first_owner
    assert reassigned["trace"]["reassignment"]["cause"] == "sla_breach"
    assert first_owner in reassigned["trace"]["reassignment"]["never_again"]
    statuses = await router_db.rows(
        "SELECT decision_id, kind, status FROM router.sla_timers WHERE lead_id = :l ORDER BY fire_at", l=lead_id
    )
    # The late reminders were skipped, not sent after the deadline; the new decision's clock runs
    assert [(r.kind, r.status) for r in statuses if r.decision_id == decision["decision_id"]] == [
        ("reminder", "skipped"),
        ("reminder", "skipped"),
        ("breach", "fired"),
    ]
    assert [r.status for r in statuses if r.decision_id == reassigned["decision_id"]] == ["pending"] * 3


async def test_a_contact_stops_the_clock_and_each_contact_counts_as_a_follow_up(
    router_db: RouterDb, t0: datetime
) -> None:
    # Given a routed lead
    lead_id, _ = await route_new_lead(router_db, t0)
    met_before = _sample("leadflow_sla_outcomes_total", sla_kind="rank_a", outcome="met")
    waits_before = _sample("leadflow_time_to_first_contact_seconds_count", sla_kind="rank_a")
    # When the rep logs two contacts, the first within the window
    await feedback(router_db, lead_id, t0 + timedelta(minutes=10), EventKind.SALES_CONTACTED)
    # Then the clock counts as met once, and the ten-minute wait is measured once
    assert _sample("leadflow_sla_outcomes_total", sla_kind="rank_a", outcome="met") == met_before + 1
    assert _sample("leadflow_time_to_first_contact_seconds_count", sla_kind="rank_a") == waits_before + 1
    await feedback(router_db, lead_id, t0 + timedelta(days=2), EventKind.SALES_CONTACTED)
    # Then nothing fires at or after the deadline, and two attempts are counted
    messages = await router_db.sla_clock().tick(t0 + timedelta(hours=2))
    assert about(messages, lead_id, Topics.SLA) == []
    row = (
        await router_db.rows(
            "SELECT sla_status, follow_up_attempts, first_contact_at FROM router.leads WHERE lead_id = :l", l=lead_id
        )
    )[0]
    assert (row.sla_status, row.follow_up_attempts, row.first_contact_at) == ("met", 2, t0 + timedelta(minutes=10))


async def test_a_rejected_lead_never_goes_back_to_a_rep_who_rejected_it(router_db: RouterDb, t0: datetime) -> None:
    # Given a lead of the three-rep inside team
    lead_id, decision = await route_new_lead(router_db, t0)
    owners = [decision["owner"]["rep_id"]]
    # When each owner in turn rejects it
    for step in range(1, 4):
        [message] = await feedback(router_db, lead_id, t0 + timedelta(minutes=step), EventKind.SALES_REJECTED)
        after = orjson.loads(message.value)["data"]
        owners.append(after["owner"]["rep_id"] if after.get("owner") else after["queue"])
    # Then it visits each rep once and, with nobody left, waits in the fallback queue
    assert sorted(owners[:3]) == ["rep-in-1", "rep-in-2", "rep-in-3"]
    assert owners[3] == "unassigned"


async def test_a_rejection_naming_another_rep_keeps_it_from_them_later(router_db: RouterDb, t0: datetime) -> None:
    # Given a routed lead
    lead_id, decision = await route_new_lead(router_db, t0)
    owner = decision["owner"]["rep_id"]
    other = next(r for r in ("rep-in-1", "rep-in-2", "rep-in-3") if r != owner)
    # When a rep who does not own it rejects it, naming themselves by email
    email = router_db.config.rep(other).email  # type: ignore[union-attr]
    messages = await feedback(router_db, lead_id, t0 + timedelta(minutes=1), EventKind.SALES_REJECTED, rep=email)
    # Then the owner keeps it, and the other rep is on its never-again list
    assert messages == []
    excluded = await router_db.scalar("SELECT excluded_rep_ids FROM router.leads WHERE lead_id = :l", l=lead_id)
    assert excluded == [other]


async def test_timers_survive_a_restart_and_two_instances_fire_each_once(router_db: RouterDb, t0: datetime) -> None:
    # Given a lead routed by one router process, which then goes away
    lead_id, _ = await route_new_lead(router_db, t0)
    # When two fresh instances (own engines, as after a restart) tick at the same moment after the deadline
    engines = [create_engine(router_db.url, pool_size=2) for _ in range(2)]
    try:
        clocks = [
            SlaClock(
                session_factory(e),
                Outbox(outbox_table, Publisher(lambda: None, name="router-test"), session_factory(e)),
                config=lambda: router_db.config,
            )
            for e in engines
        ]
        results = await asyncio.gather(*(c.tick(t0 + timedelta(hours=1)) for c in clocks))
    finally:
        for engine in engines:
            await engine.dispose()
    # Then the breach fired once in all, and the lead was reassigned once
    fired = [m for result in results for m in about(result, lead_id, Topics.SLA)]
    assert [m["kind"] for m in fired] == ["breach"]
    decisions = await router_db.scalar("SELECT count(*) FROM router.decisions WHERE lead_id = :l", l=lead_id)
    assert decisions == 2


async def test_a_redelivered_scored_event_routes_once(router_db: RouterDb, t0: datetime) -> None:
    # Given a scored update delivered twice (Kafka is at-least-once)
    lead_id = new_lead_id()
    update = scored_update(lead_id, t0)
    first = await deliver(router_db, update, t0)
    second = await deliver(router_db, update, t0 + timedelta(seconds=1))
    # Then one decision and one set of timers exist
    assert (len(first), second) == (1, [])
    assert await router_db.scalar("SELECT count(*) FROM router.sla_timers WHERE lead_id = :l", l=lead_id) == 3


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0
