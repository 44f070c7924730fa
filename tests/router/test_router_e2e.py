"""The router on the real stack: reps changed at run time, SLA breach escalation and reassignment, rejection
feedback, the seminar follow-up's thank-you, fairness across two router instances in one consumer group, and a
what-if that changes nothing."""

from __future__ import annotations

import asyncio
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition

from leadflow import stack
from shared.db import create_engine, session_factory
from shared.events import Topics
from tests.conftest import StackUrls, eventually
from tests.e2e.helpers import API_KEY, lead_id, slack_messages_about, unique_person
from tests.router.conftest import FIXTURE_CONFIG

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": API_KEY}
INSIDE = ["rep-in-1", "rep-in-2", "rep-in-3"]


@pytest.fixture(scope="module")
async def live_db(stack_urls: StackUrls) -> AsyncIterator[Any]:
    engine = create_engine(stack_urls.database_url, pool_size=2)
    yield session_factory(engine)
    await engine.dispose()


async def sql(sessions: Any, statement: str, **params: Any) -> list[Any]:
    async with sessions() as session:
        result = await session.execute(sa.text(statement), params)
        rows = list(result.all()) if result.returns_rows else []
        await session.commit()
        return rows


async def _outbox_empty(live_db: Any) -> bool:
    return (await sql(live_db, "SELECT count(*) FROM router.outbox"))[0][0] == 0


async def routed(http: httpx.AsyncClient, router: str, lid: str, decisions: int = 1) -> dict[str, Any] | None:
    response = await http.get(f"{router}/v1/leads/{lid}")
    if response.status_code == 404:
        return None
    body: dict[str, Any] = response.json()
    return body if body["routed"] and len(body["history"]) >= decisions else None


async def demo_request(http: httpx.AsyncClient, urls: StackUrls, **person: Any) -> dict[str, Any]:
    """A unique person (120 employees, US: the inside team) requests a demo; returns them once routed."""
    someone = unique_person(employees=120, **person)
    response = await http.post(
        f"{urls.ingest}/v1/events/form", json={**someone, "form": "demo_request"}, headers=HEADERS
    )
    assert response.status_code == 202
    return someone


async def post_feedback(http: httpx.AsyncClient, urls: StackUrls, body: dict[str, Any]) -> None:
    response = await http.post(f"{urls.ingest}/v1/events/feedback", json=body, headers=HEADERS)
    assert response.status_code == 202


async def sla_events_for(bootstrap: str, key: str) -> list[dict[str, Any]]:
    """Every SLA event on the topic for one lead, read from the beginning without joining a group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(Topics.SLA, p) for p in consumer.partitions_for_topic(Topics.SLA) or ()]
        if not partitions:
            partitions = [TopicPartition(Topics.SLA, p) for p in range(6)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[dict[str, Any]] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found += [orjson.loads(r.value)["data"] for r in records if r.key == key.encode()]
        return found
    finally:
        await consumer.stop()


# --- reps at run time -------------------------------------------------------------------------------


async def test_the_reps_are_listed_with_their_load_and_availability(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    response = await http.get(f"{stack_urls.router}/v1/reps")
    assert response.status_code == 200
    reps = {r["rep_id"]: r for r in response.json()["reps"]}
    assert set(INSIDE) <= set(reps)
    assert reps["rep-in-1"]["capacity"] == 1000
    assert {"open_leads", "available", "unavailable_because", "overridden"} <= set(reps["rep-in-1"])


@pytest.mark.parametrize(
    ("rep_id", "body", "status"),
    [
        ("rep-nobody", {"active": False}, 404),
        ("rep-in-1", {}, 422),
        ("rep-in-1", {"capacity": -1}, 422),
        ("rep-in-1", {"active": "sometimes"}, 422),
        ("rep-in-1", {"out_of_office": [{"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}]}, 422),
        ("rep-in-1", {"out_of_office": [{"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00"}]}, 422),
        ("rep-in-1", {"team": "enterprise"}, 422),
    ],
)
async def test_a_bad_rep_update_is_refused_with_a_clear_4xx(
    http: httpx.AsyncClient, stack_urls: StackUrls, rep_id: str, body: dict[str, Any], status: int
) -> None:
    response = await http.put(f"{stack_urls.router}/v1/reps/{rep_id}", json=body)
    assert response.status_code == status
    assert "error" in response.json()


async def test_a_rep_going_on_leave_hands_over_their_running_leads_and_gets_no_new_ones(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    router = stack_urls.router
    # Given a lead owned by some inside rep, its SLA running
    person = await demo_request(http, stack_urls)
    lead = await eventually(lambda: routed(http, router, lead_id(person)))
    leaving = lead["owner"]["rep_id"]
    try:
        # When that rep goes on leave from now on, without a restart
        leave = {"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}
        response = await http.put(f"{router}/v1/reps/{leaving}", json={"out_of_office": [leave]})
        # Then the lead moved to a colleague, and the rep shows as away
        assert response.status_code == 200
        body = response.json()
        assert lead_id(person) in body["reassigned"]
        assert (body["available"], body["overridden"]) == (False, ["out_of_office"])
        assert body["unavailable_because"].startswith("out of office until")
        after = await eventually(lambda: routed(http, router, lead_id(person), decisions=2))
        assert after["owner"]["rep_id"] not in (leaving, None)
        assert after["history"][-1]["kind"] == "reassigned"
        # And the next three leads go to the other reps only
        others = [await demo_request(http, stack_urls) for _ in range(3)]
        owners = [(await eventually(lambda p=p: routed(http, router, lead_id(p))))["owner"]["rep_id"] for p in others]
        assert leaving not in owners
    finally:
        reset = await http.put(f"{router}/v1/reps/{leaving}", json={"out_of_office": None})
        assert reset.json()["overridden"] == []


# --- SLA clock and feedback, end to end ----------------------------------------------------------------


async def test_a_missed_sla_escalates_and_reassigns_on_the_running_stack(
    http: httpx.AsyncClient, stack_urls: StackUrls, live_db: Any
) -> None:
    router = stack_urls.router
    # Given a routed rank-A lead whose one-hour deadline has (as far as its timer knows) just passed
    person = await demo_request(http, stack_urls)
    lid = lead_id(person)
    lead = await eventually(lambda: routed(http, router, lid))
    first_owner = lead["owner"]["rep_id"]
    await sql(live_db, "UPDATE router.sla_timers SET fire_at = now() WHERE lead_id = :l AND kind = 'breach'", l=lid)
    # When the router's own clock ticks
    after = await eventually(lambda: routed(http, router, lid, decisions=2))
    # Then the lead went to another rep, never back to the one who let it lapse
    assert after["history"][-1]["kind"] == "reassigned"
    assert after["owner"]["rep_id"] != first_owner
    assert after["never_again"] == [first_owner]
    assert after["sla"]["status"] == "open"
    # And a breach naming the manager was published, once
    events = await eventually(lambda: sla_events_for(stack_urls.kafka, lid))
    assert [(e["kind"], e["escalate_to"]["name"]) for e in events] == [("breach", "Sarah Johnson")]
    # And the new owner is alerted
    new_owner_slack = next(
        r for r in (await http.get(f"{router}/v1/reps")).json()["reps"] if r["rep_id"] == after["owner"]["rep_id"]
    )["slack_id"]
    messages = await eventually(
        lambda: _in_channel(slack_messages_about(http, stack_urls.standins, person["name"]), new_owner_slack)
    )
    assert messages


async def _in_channel(messages: Any, channel: str) -> list[dict[str, Any]]:
    return [m for m in await messages if m.get("channel") == channel]


async def test_a_rep_rejecting_a_lead_passes_it_on_and_a_contact_stops_the_new_clock(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    router = stack_urls.router
    # Given a routed lead
    person = await demo_request(http, stack_urls)
    lid = lead_id(person)
    lead = await eventually(lambda: routed(http, router, lid))
    first_owner = lead["owner"]["rep_id"]
    # When its owner rejects it through the feedback API
    feedback = {"lead_id": lid, "action": "rejected", "reason": "wrong territory"}
    assert (
        await http.post(f"{stack_urls.ingest}/v1/events/feedback", json=feedback, headers=HEADERS)
    ).status_code == 202
    # Then another rep owns it, and the rejecting rep is never offered it again
    after = await eventually(lambda: routed(http, router, lid, decisions=2))
    assert after["owner"]["rep_id"] != first_owner
    assert after["never_again"] == [first_owner]
    assert "wrong territory" in str(after["trace"]["reassignment"])
    # When the new owner logs a call
    contacted = {"lead_id": lid, "action": "contacted"}
    assert (
        await http.post(f"{stack_urls.ingest}/v1/events/feedback", json=contacted, headers=HEADERS)
    ).status_code == 202

    # Then the SLA is met and the attempt counted against the target
    async def met() -> dict[str, Any] | None:
        body: dict[str, Any] = (await http.get(f"{router}/v1/leads/{lid}")).json()
        return body if body["sla"]["status"] == "met" else None

    final = await eventually(met)
    assert final["follow_ups"]["attempts"] == 1
    assert final["follow_ups"]["target"] == 5


# --- seminar follow-up, end to end ----------------------------------------------------------------------


async def thank_yous(http: httpx.AsyncClient, standins: str, to: str, seminar: str) -> list[dict[str, Any]]:
    response = await http.get(f"{standins}/_standin/mail/messages", params={"to": to})
    response.raise_for_status()
    return [m for m in response.json()["messages"] if m["subject"] == f"Thank you for joining {seminar}"]


async def test_a_routed_lead_attending_a_webinar_is_thanked_once_for_its_owner_who_keeps_it(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    router, standins = stack_urls.router, stack_urls.standins
    # Given a routed lead
    person = await demo_request(http, stack_urls)
    lid = lead_id(person)
    lead = await eventually(lambda: routed(http, router, lid))
    owner = next(
        r for r in (await http.get(f"{router}/v1/reps")).json()["reps"] if r["rep_id"] == lead["owner"]["rep_id"]
    )
    # When they attend a webinar (the client retries the post), then a second one
    attended = {**person, "webinar": "DX Summit", "action": "attended", "minutes": 50}
    for body in (attended, attended, {**attended, "webinar": "AI Day"}):
        response = await http.post(f"{stack_urls.ingest}/v1/events/webinar", json=body, headers=HEADERS)
        assert response.status_code == 202
    # Then the attendee gets one thank-you per seminar, replying to the owner; the second arriving means the
    # first seminar's records were all handled (one lead's records stay in order), so a double would show
    second = await eventually(lambda: thank_yous(http, standins, person["email"], "AI Day"))
    first = await thank_yous(http, standins, person["email"], "DX Summit")
    assert (len(first), len(second)) == (1, 1)
    assert first[0]["reply_to"] == owner["email"]
    # And the lead still has its one owner and one decision
    after = await eventually(lambda: routed(http, router, lid))
    assert after["owner"]["rep_id"] == lead["owner"]["rep_id"]
    assert [d["decision_id"] for d in after["history"]] == [d["decision_id"] for d in lead["history"]]


# --- fairness across instances -------------------------------------------------------------------------


async def test_two_router_instances_in_one_group_share_leads_in_strict_turns(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    lay = stack.layout_for_tests()
    port = lay.service_port_base + 13
    url = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable, "-m", "uvicorn", "services.router.app:app", "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log",
    ]  # fmt: skip
    # Given a second router process in the same consumer group, with partitions of its own
    stack._spawn(lay, "router-2", argv, env=stack.service_env(lay))
    try:
        await eventually(lambda: asyncio.to_thread(stack.service_ready, url), within=60, interval=0.5)
        log = lay.logs / "router-2.log"
        await eventually(lambda: _has_partitions(log), within=60, interval=0.5)
        # When 30 equal leads arrive at once
        people = await asyncio.gather(*(demo_request(http, stack_urls) for _ in range(30)))
        leads = await asyncio.gather(
            *(eventually(lambda p=p: routed(http, stack_urls.router, lead_id(p)), within=60) for p in people)
        )
        # Then each inside rep got exactly ten, each lead one decision
        owners = Counter(lead["owner"]["rep_id"] for lead in leads)
        assert owners == {"rep-in-1": 10, "rep-in-2": 10, "rep-in-3": 10}
        assert all(len(lead["history"]) == 1 for lead in leads)
        # And every pick was the turn after the one before it, whichever instance made it
        for lead in leads:
            before = lead["trace"]["rotation_before"]["last_rep_id"]
            assert lead["trace"]["picked"] == INSIDE[(INSIDE.index(before) + 1) % 3 if before in INSIDE else 0]
        # And both instances took part
        assert _decisions_made((await http.get(f"{url}/metrics")).text) > 0
    finally:
        await asyncio.to_thread(stack.stop_process, lay, "router-2")


async def _has_partitions(log: Path) -> bool:
    return await asyncio.to_thread(_log_shows_partitions, log)


def _log_shows_partitions(log: Path) -> bool:
    text = log.read_text(errors="replace") if log.exists() else ""
    return bool(re.search(r'"partitions assigned","partitions":\["', text))


def _decisions_made(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("leadflow_routing_decisions_total{")
    )


# --- what-if ------------------------------------------------------------------------------------------


async def test_simulate_shows_what_would_change_and_changes_nothing(
    http: httpx.AsyncClient, stack_urls: StackUrls, live_db: Any, tmp_path: Path
) -> None:
    # Given routed leads and a candidate file that drops rep-in-3 from the inside team
    people = [await demo_request(http, stack_urls) for _ in range(3)]
    for person in people:
        await eventually(lambda p=person: routed(http, stack_urls.router, lead_id(p)))
    # And their decisions published (the outbox deletes published rows a moment after publishing them)
    await eventually(lambda: _outbox_empty(live_db))
    candidate = tmp_path / "routing.yaml"
    candidate.write_text(
        FIXTURE_CONFIG.read_text().replace("members: [rep-in-1, rep-in-2, rep-in-3]", "members: [rep-in-1, rep-in-2]")
    )
    state = (
        "SELECT (SELECT count(*) FROM router.decisions), (SELECT count(*) FROM router.leads),"
        " (SELECT count(*) FROM router.sla_timers WHERE status = 'pending'), (SELECT count(*) FROM router.outbox),"
        " (SELECT string_agg(team_id || ':' || coalesce(last_rep_id, ''), ',' ORDER BY team_id) FROM router.rotation)"
    )
    before = await sql(live_db, state)
    # When the simulation runs over the last day
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "leadflow"), "routing", "simulate", "--rules", str(candidate),
        "--since", "1d", "--json", "--database-url", stack_urls.database_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    # Then it reports rep-in-3's leads moving to the others
    assert process.returncode == 0, err.decode()
    report = orjson.loads(out)
    assert report["reps"]["rep-in-3"]["before"] > 0
    assert report["reps"]["rep-in-3"]["after"] == 0
    assert report["changed"] > 0
    # And the router's state is exactly as it was
    assert await sql(live_db, state) == before


async def test_simulate_names_the_line_of_a_bad_candidate_file(tmp_path: Path) -> None:
    candidate = tmp_path / "routing.yaml"
    candidate.write_text(FIXTURE_CONFIG.read_text().replace("team: inside", "team: nowhere"))
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "leadflow"), "routing", "simulate", "--rules", str(candidate),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 2
    assert re.search(r"line \d+: .*unknown team 'nowhere'", err.decode())
