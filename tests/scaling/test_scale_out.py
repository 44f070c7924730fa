"""Scaling out is only more members of the same consumer groups: 3 instances of each consumer service give
the same results as 1, stay fair, and survive losing an instance with nothing lost or doubled.

Runs on a stack of its own (ports 20000+), reset between the two runs, so both see the same empty start.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from leadflow import stack
from tests.conftest import eventually
from tests.e2e.helpers import API_KEY

pytestmark = pytest.mark.integration

SCALE = stack.Layout(
    "scale",
    stack.CACHE / "scale",
    21092,
    57433,
    20000,
    20090,
    12025,
    stack.ROOT / "tests" / "fixtures" / "config",
    env=stack.TEST.env,
)
CONSUMERS = ("scoring", "router", "notifier")
PRIMARY = 60  # one lead per company: round-robin over the three inside-sales reps → 20 each
COLLEAGUES = 15  # a second person at the first 15 companies: account match → the colleague's owner
NEWSLETTER = 15  # never routed, never alerted


@dataclass(frozen=True)
class Outcome:
    scores: dict[str, tuple[float, str, str]]  # lead → (total, rank, stage)
    owners: dict[str, str | None]
    notifications: dict[str, Counter[str]]  # lead → {medium: sent count}
    slack_messages: int


def _people(run: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    def person(i: int, kind: str, domain: str) -> dict[str, Any]:
        return {
            "email": f"{kind}{i}@{domain}",
            "name": f"Scale {kind} {i} {run}",
            "company": f"Company {i}",
            "title": "Engineer",
            "employees": 120,
            "industry": "retail",
            "country": "US",
        }

    primary = [{**person(i, "p", f"co{i}.example.com"), "form": "demo_request"} for i in range(PRIMARY)]
    colleagues = [{**person(i, "c", f"co{i}.example.com"), "form": "contact"} for i in range(COLLEAGUES)]
    newsletter = [{**person(i, "n", f"news{i}.example.com"), "form": "newsletter"} for i in range(NEWSLETTER)]
    return primary, colleagues, newsletter


async def _post(http: httpx.AsyncClient, bodies: list[dict[str, Any]]) -> list[str]:
    ingest = SCALE.service("ingest").url
    response = await http.post(
        f"{ingest}/v1/events/batch",
        json={
            "events": [{"channel": "form", "event": {**b, "occurred_at": "2026-11-23T01:00:00+00:00"}} for b in bodies]
        },
        headers={"X-API-Key": API_KEY},
    )
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert all(r["status"] == 202 for r in results)
    return [r["lead_id"] for r in results]


async def _all_alerted(http: httpx.AsyncClient, leads: list[str]) -> bool:
    notifier = SCALE.service("notifier").url
    for lead in leads:
        rows = (await http.get(f"{notifier}/v1/leads/{lead}/notifications")).json()
        if len([r for r in rows if r["status"] == "sent"]) < 2:
            return False
    return True


async def _outcome(http: httpx.AsyncClient, routed: list[str], quiet: list[str]) -> Outcome:
    scores: dict[str, tuple[float, str, str]] = {}
    owners: dict[str, str | None] = {}
    notifications: dict[str, Counter[str]] = {}
    for lead in routed + quiet:
        score = (await http.get(f"{SCALE.service('scoring').url}/v1/leads/{lead}/score")).json()
        scores[lead] = (score["total"], score["rank"], score["stage"])
        routing = (await http.get(f"{SCALE.service('router').url}/v1/leads/{lead}")).json()
        owners[lead] = routing["owner"]["rep_id"] if routing["owner"] else None
        rows = (await http.get(f"{SCALE.service('notifier').url}/v1/leads/{lead}/notifications")).json()
        notifications[lead] = Counter(r["medium"] for r in rows if r["status"] == "sent")
    messages = (await http.get(f"{SCALE.standin_url}/_standin/slack/messages")).json()["messages"]
    return Outcome(scores, owners, notifications, len(messages))


async def _run(instances: int, run: str, *, kill_one_midway: bool) -> tuple[Outcome, list[str], list[str]]:
    await asyncio.to_thread(stack.reset, SCALE)
    await asyncio.to_thread(stack.up, SCALE)
    extra = [SCALE.service(name, n) for name in CONSUMERS for n in range(2, instances + 1)]
    for spec in extra:
        await asyncio.to_thread(stack.start_service, SCALE, spec)
    for spec in extra:
        await asyncio.to_thread(stack.wait_service, SCALE, spec)
    primary, colleagues, newsletter = _people(run)
    async with httpx.AsyncClient(timeout=30) as http:
        first_half = await _post(http, primary[: PRIMARY // 2])
        if kill_one_midway:
            # A crash, not a shutdown: the group must hand its partitions to the others with nothing lost.
            for name in CONSUMERS:
                await asyncio.to_thread(stack.stop_service, SCALE, SCALE.service(name, 2), kill=True)
        second_half = await _post(http, primary[PRIMARY // 2 :])
        primaries = first_half + second_half
        await eventually(lambda: _all_alerted(http, primaries), within=180, interval=0.5)
        # Colleagues after their account's first lead is routed, so "account match" has an owner to find.
        colleague_leads = await _post(http, colleagues)
        quiet = await _post(http, newsletter)
        await eventually(lambda: _all_alerted(http, colleague_leads), within=120, interval=0.5)

        async def newsletter_scored() -> bool:
            for lead in quiet:
                if (await http.get(f"{SCALE.service('router').url}/v1/leads/{lead}")).status_code != 200:
                    return False
            return True

        await eventually(newsletter_scored, within=60, interval=0.5)
        return await _outcome(http, primaries + colleague_leads, quiet), primaries, colleague_leads


async def test_three_instances_of_each_consumer_give_the_same_results_as_one() -> None:
    try:
        one, primaries_1, colleagues_1 = await _run(1, "x", kill_one_midway=False)
        three, primaries_3, colleagues_3 = await _run(3, "x", kill_one_midway=True)
    finally:
        await asyncio.to_thread(stack.down, SCALE)
    # Same input, same scores, ranks and stages, lead by lead
    assert one.scores == three.scores
    # Round-robin stays fair with several routers: 60 equal leads over 3 reps → 20 each, in both runs
    for outcome, primaries in ((one, primaries_1), (three, primaries_3)):
        per_rep = Counter(outcome.owners[lead] for lead in primaries)
        assert sorted(per_rep.values()) == [20, 20, 20], per_rep
    # One account, one voice: each colleague went to the owner of their company's first lead
    for outcome, primaries, colleagues in ((one, primaries_1, colleagues_1), (three, primaries_3, colleagues_3)):
        assert [outcome.owners[c] for c in colleagues] == [outcome.owners[p] for p in primaries[:COLLEAGUES]]
    # Exactly one Slack message and one email per routed lead — none lost, none doubled — and none for the rest
    for outcome in (one, three):
        routed = [lead for lead, owner in outcome.owners.items() if owner is not None]
        assert len(routed) == PRIMARY + COLLEAGUES
        assert all(outcome.notifications[lead] == Counter(slack=1, email=1) for lead in routed)
        assert all(not outcome.notifications[lead] for lead in outcome.owners if lead not in routed)
        assert outcome.slack_messages == PRIMARY + COLLEAGUES
