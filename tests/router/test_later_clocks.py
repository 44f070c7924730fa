"""The SQL first-proposal clock and the seminar follow-up against the real database, driven by an injected
clock: the clock starts when a routed lead becomes SQL, reminds and breaches once, a meeting stops it; a webinar
attendance publishes one follow-up decision and never changes who owns the lead or whose turn is next."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from services.router.config import RoutingConfig
from shared.events import Channel, CloudEvent, EventKind, LeadScored, Stage, Topics
from shared.kafka import OutgoingMessage
from tests.router.conftest import RouterDb, deliver, new_lead_id, scored_update

pytestmark = pytest.mark.integration

# A database of this module's own; tests two months apart, so one test's ticks never reach another's timers
# before they are due (a 7-day clock and its reassignment's fit well inside).
_BASE = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
_SLOTS = itertools.count()
SQL_DAYS = timedelta(days=7)


@pytest.fixture
def t0() -> datetime:
    return _BASE + timedelta(days=60 * next(_SLOTS))


def about(messages: list[OutgoingMessage], lead_id: str, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(m.value)["data"] for m in messages if m.key == lead_id and m.topic == topic]


async def route_new_lead(db: RouterDb, t0: datetime) -> tuple[str, dict[str, Any]]:
    lead_id = new_lead_id()
    [message] = await deliver(db, scored_update(lead_id, t0), t0)
    return lead_id, orjson.loads(message.value)["data"]


def update(
    lead_id: str, at: datetime, stage: Stage, previous: Stage, *events: tuple[EventKind, dict[str, Any]]
) -> CloudEvent[LeadScored]:
    return scored_update(lead_id, at, stage=stage, previous_stage=previous, feedback=list(events))


async def becomes_sql(db: RouterDb, lead_id: str, at: datetime, *extra: tuple[EventKind, dict[str, Any]]) -> list[Any]:
    """Sales confirms the last BANT fact: the lead moves from SAL to SQL."""
    return await deliver(db, update(lead_id, at, Stage.SQL, Stage.SAL, (EventKind.SALES_BANT, {}), *extra), at)


async def lead_state(db: RouterDb, lead_id: str) -> Any:
    [row] = await db.rows(
        "SELECT owner_rep_id, decision_id, sla_kind, sla_due_at, sla_status, routed FROM router.leads"
        " WHERE lead_id = :l",
        l=lead_id,
    )
    return row


async def timers(db: RouterDb, lead_id: str) -> list[Any]:
    return await db.rows(
        "SELECT decision_id, kind, fire_at, status, sla_kind FROM router.sla_timers WHERE lead_id = :l"
        " ORDER BY fire_at, kind",
        l=lead_id,
    )


def attendance(lead_id: str, at: datetime, stage: Stage, previous: Stage, event_id: str) -> CloudEvent[LeadScored]:
    """A scored update applying one webinar attendance (with a fixed event id, as scoring would re-send it)."""
    cloud = scored_update(lead_id, at, stage=stage, previous_stage=previous)
    attended = cloud.data.trigger.model_copy(
        update={
            "event_id": event_id,
            "kind": EventKind.WEBINAR_ATTENDED,
            "channel": Channel.WEBINAR,
            "details": {"webinar": "DX Summit 2031", "minutes": 55},
        }
    )
    data = cloud.data.model_copy(update={"trigger": attended, "new_events": [attended]})
    return cloud.model_copy(update={"data": data})


# --- the SQL first-proposal clock ----------------------------------------------------------------------------


async def test_a_routed_lead_becoming_sql_starts_a_seven_day_proposal_clock_for_its_owner(
    router_db: RouterDb, t0: datetime
) -> None:
    # Given a routed lead whose first contact was made within the hour
    lead_id, decision = await route_new_lead(router_db, t0)
    await deliver(router_db, update(lead_id, t0, Stage.TQL, Stage.MQL, (EventKind.SALES_CONTACTED, {})), t0)
    # When sales qualifies it a day later
    t1 = t0 + timedelta(days=1)
    assert await becomes_sql(router_db, lead_id, t1) == []
    # Then the same owner has a proposal clock: reminders at 3.5 and 6.3 days, the breach at 7
    state = await lead_state(router_db, lead_id)
    assert (state.owner_rep_id, state.decision_id) == (decision["owner"]["rep_id"], decision["decision_id"])
    assert (state.sla_kind, state.sla_due_at, state.sla_status) == ("sql", t1 + SQL_DAYS, "open")
    proposal = [(r.kind, r.fire_at - t1, r.status) for r in await timers(router_db, lead_id) if r.sla_kind == "sql"]
    assert proposal == [
        ("reminder", timedelta(days=3.5), "pending"),
        ("reminder", timedelta(days=6.3), "pending"),
        ("breach", SQL_DAYS, "pending"),
    ]


async def test_the_proposal_clock_reminds_once_then_breaches_once_escalating_and_reassigning(
    router_db: RouterDb, t0: datetime
) -> None:
    # Given an SQL whose proposal clock started at t1
    lead_id, decision = await route_new_lead(router_db, t0)
    first_owner = decision["owner"]["rep_id"]
    await deliver(router_db, update(lead_id, t0, Stage.TQL, Stage.MQL, (EventKind.SALES_CONTACTED, {})), t0)
    t1 = t0 + timedelta(hours=2)
    await becomes_sql(router_db, lead_id, t1)
    clock = router_db.sla_clock()
    # When the clock ticks at half the window, again just after, then at the deadline and after it
    half = await clock.tick(t1 + SQL_DAYS / 2)
    again = await clock.tick(t1 + SQL_DAYS / 2 + timedelta(minutes=1))
    deadline = await clock.tick(t1 + SQL_DAYS + timedelta(seconds=5))
    after = await clock.tick(t1 + SQL_DAYS + timedelta(minutes=5))
    # Then the owner got one SQL reminder, nothing twice
    [reminder] = about(half, lead_id, Topics.SLA)
    assert (reminder["kind"], reminder["sla_kind"], reminder["reminder_fraction"]) == ("reminder", "sql", 0.5)
    assert reminder["owner"]["rep_id"] == first_owner
    assert reminder["lead"]["stage"] == "sql"  # the clock's own snapshot, not the routing-time one
    assert about(again, lead_id, Topics.SLA) == []
    # And at the deadline one breach escalated to the manager (the 90% reminder, now late, was skipped)
    [breach] = about(deadline, lead_id, Topics.SLA)
    assert (breach["kind"], breach["sla_kind"], breach["late_by_seconds"]) == ("breach", "sql", 5.0)
    assert breach["escalate_to"]["name"] == "Sarah Johnson"
    # And the lead went to another rep with a fresh seven-day proposal clock
    [reassigned] = about(deadline, lead_id, Topics.DECISIONS)
    assert reassigned["kind"] == "reassigned"
    assert reassigned["owner"]["rep_id"] != first_owner
    assert reassigned["sla_kind"] == "sql"
    assert reassigned["trace"]["reassignment"]["cause"] == "sla_breach"
    assert first_owner in reassigned["trace"]["reassignment"]["never_again"]
    assert about(after, lead_id, Topics.SLA) == about(after, lead_id, Topics.DECISIONS) == []
    proposal = [(r.kind, r.status) for r in await timers(router_db, lead_id) if r.sla_kind == "sql"]
    assert proposal == [("reminder", "fired"), ("reminder", "skipped"), ("breach", "fired")]
    state = await lead_state(router_db, lead_id)
    assert (state.sla_kind, state.sla_status, state.decision_id) == ("sql", "open", reassigned["decision_id"])


async def test_a_proposal_meeting_stops_the_clock(router_db: RouterDb, t0: datetime) -> None:
    # Given an SQL whose proposal clock runs
    lead_id, _ = await route_new_lead(router_db, t0)
    t1 = t0 + timedelta(hours=1)
    await becomes_sql(router_db, lead_id, t1)
    # When the owner logs a call (not a proposal) and then, two days in, the proposal meeting
    await deliver(router_db, update(lead_id, t1, Stage.SQL, Stage.SQL, (EventKind.SALES_CONTACTED, {})), t1)
    assert (await lead_state(router_db, lead_id)).sla_status == "open"
    meeting_at = t1 + timedelta(days=2)
    await deliver(
        router_db, update(lead_id, meeting_at, Stage.OPPORTUNITY, Stage.SQL, (EventKind.SALES_MEETING, {})), meeting_at
    )
    # Then nothing fires, even well past the deadline, and the SLA is met
    messages = await router_db.sla_clock().tick(t1 + SQL_DAYS + timedelta(days=1))
    assert about(messages, lead_id, Topics.SLA) == about(messages, lead_id, Topics.DECISIONS) == []
    assert (await lead_state(router_db, lead_id)).sla_status == "met"
    assert {r.status for r in await timers(router_db, lead_id) if r.sla_kind == "sql"} == {"stopped"}


async def test_a_meeting_in_the_update_that_qualifies_the_lead_meets_the_clock_at_once(
    router_db: RouterDb, t0: datetime
) -> None:
    lead_id, _ = await route_new_lead(router_db, t0)
    await becomes_sql(router_db, lead_id, t0 + timedelta(hours=1), (EventKind.SALES_MEETING, {}))
    assert (await lead_state(router_db, lead_id)).sla_status == "met"
    messages = await router_db.sla_clock().tick(t0 + SQL_DAYS * 2)
    assert about(messages, lead_id, Topics.SLA) == []


async def test_the_proposal_clock_supersedes_a_first_contact_clock_still_running(
    router_db: RouterDb, t0: datetime
) -> None:
    # Given a rank-A lead qualified as SQL ten minutes in, before anyone logged a contact
    lead_id, decision = await route_new_lead(router_db, t0)
    await becomes_sql(router_db, lead_id, t0 + timedelta(minutes=10))
    # When the one-hour deadline passes
    messages = await router_db.sla_clock().tick(t0 + timedelta(hours=2))
    # Then no first-contact reminder or breach fires: those alarms were superseded by the proposal clock
    assert about(messages, lead_id, Topics.SLA) == []
    first_contact = [r.status for r in await timers(router_db, lead_id) if r.sla_kind is None]
    assert first_contact == ["superseded"] * 3
    assert (await lead_state(router_db, lead_id)).owner_rep_id == decision["owner"]["rep_id"]


async def test_the_proposal_clock_starts_once_per_owner_even_when_redelivered_or_requalified(
    router_db: RouterDb, t0: datetime
) -> None:
    lead_id, _ = await route_new_lead(router_db, t0)
    t1 = t0 + timedelta(hours=3)
    qualified = update(lead_id, t1, Stage.SQL, Stage.SAL, (EventKind.SALES_BANT, {}))
    # When the qualifying update is delivered twice, and the lead later becomes SQL again
    await deliver(router_db, qualified, t1)
    await deliver(router_db, qualified, t1 + timedelta(minutes=1))
    await becomes_sql(router_db, lead_id, t1 + timedelta(days=1))
    # Then one proposal clock exists, started at t1
    proposal = [r for r in await timers(router_db, lead_id) if r.sla_kind == "sql"]
    assert [(r.kind, r.fire_at - t1) for r in proposal][-1] == ("breach", SQL_DAYS)
    assert len(proposal) == 3


# --- seminar follow-up --------------------------------------------------------------------------------------


async def test_an_owned_lead_attending_a_webinar_gets_one_follow_up_for_its_owner_and_keeps_its_owner(
    router_db: RouterDb, t0: datetime
) -> None:
    # Given a routed lead, and the inside team's rotation after it
    lead_id, decision = await route_new_lead(router_db, t0)
    rotation = "SELECT last_rep_id, current_weights FROM router.rotation WHERE team_id = 'inside'"
    before = await router_db.rows(rotation)
    state_before = await lead_state(router_db, lead_id)
    # When the lead attends a webinar
    t1 = t0 + timedelta(days=3)
    messages = await deliver(router_db, attendance(lead_id, t1, Stage.MQL, Stage.MQL, "ev-attended-1"), t1)
    # Then one seminar follow-up decision names its owner, due within 24 hours, thanking for that seminar
    [follow_up] = about(messages, lead_id, Topics.DECISIONS)
    assert (follow_up["sla_kind"], follow_up["owner"]["rep_id"]) == ("seminar_follow_up", decision["owner"]["rep_id"])
    assert follow_up["sla_due_at"] == (t1 + timedelta(hours=24)).isoformat().replace("+00:00", "Z")
    assert follow_up["lead"]["trigger"]["details"]["webinar"] == "DX Summit 2031"
    # And the owner, the running clock, the decision history and the rotation are as they were
    assert await lead_state(router_db, lead_id) == state_before
    assert await router_db.rows(rotation) == before
    assert await router_db.scalar("SELECT count(*) FROM router.decisions WHERE lead_id = :l", l=lead_id) == 1
    # And the same attendance re-sent in another update is the same decision (the notifier sends it once)
    resent = await deliver(router_db, attendance(lead_id, t1, Stage.MQL, Stage.MQL, "ev-attended-1"), t1)
    assert [d["decision_id"] for d in about(resent, lead_id, Topics.DECISIONS)] == [follow_up["decision_id"]]


async def test_an_attendee_nobody_owns_is_followed_up_for_the_rule_teams_manager_and_stays_unrouted(
    router_db: RouterDb, t0: datetime
) -> None:
    lead_id = new_lead_id()
    before = await router_db.rows("SELECT team_id, last_rep_id FROM router.rotation ORDER BY team_id")
    # When a lead below MQL (not routed) attends a webinar
    messages = await deliver(router_db, attendance(lead_id, t0, Stage.LEAD, Stage.LEAD, "ev-attended-2"), t0)
    # Then the follow-up is for the manager of the team its rule selects (120 employees, US: inside)
    [follow_up] = about(messages, lead_id, Topics.DECISIONS)
    assert (follow_up["owner"]["rep_id"], follow_up["owner"]["name"], follow_up["team"]) == (
        "manager:inside",
        "Sarah Johnson",
        "inside",
    )
    assert follow_up["trace"]["sent_for"] == "team_manager"
    # And the lead is still unrouted, with no owner, and no team's turn moved
    state = await lead_state(router_db, lead_id)
    assert (state.routed, state.owner_rep_id, state.decision_id) == (False, None, None)
    assert await router_db.rows("SELECT team_id, last_rep_id FROM router.rotation ORDER BY team_id") == before


async def test_seminar_follow_ups_can_be_turned_off(router_db: RouterDb, t0: datetime) -> None:
    off = RoutingConfig.model_validate(router_db.config.model_dump() | {"seminar_follow_up": {"enabled": False}})
    lead_id, _ = await route_new_lead(router_db, t0)
    messages = await deliver(router_db, attendance(lead_id, t0, Stage.MQL, Stage.MQL, "ev-attended-3"), t0, off)
    assert messages == []
