"""The constant load: leads posted to ingest at a steady rate, each retried as a well-behaved client would."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from chaos.plan import LeadPlan, canary, plan_lead
from chaos.settings import ChaosSettings

# Answers after which the same request is worth sending again: the event is known not to be stored.
RETRYABLE = frozenset({429, 502, 503, 504})


@dataclass
class LoadGenerator:
    """Posts leads at ``rate_per_s`` until stopped; remembers what was accepted, refused and how ingest answered."""

    http: httpx.AsyncClient
    ingest_url: str
    run: str
    settings: ChaosSettings
    api_key: str | None = None
    plans: list[LeadPlan] = field(default_factory=list)
    accepted: dict[int, str] = field(default_factory=dict)
    refused: set[int] = field(default_factory=set)
    resend_mismatches: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _inflight: set[asyncio.Task[None]] = field(default_factory=set)

    async def run_until(self, stop: asyncio.Event) -> None:
        """Post one lead every 1/rate seconds until ``stop`` is set, then wait for the ones in flight."""
        interval = 1 / self.settings.rate_per_s
        next_at = time.monotonic()
        while not stop.is_set():
            plan = plan_lead(
                self.run, next(self._seq), rank_a_share=self.settings.rank_a_share,
                resend_share=self.settings.resend_share,
            )  # fmt: skip
            self._start(plan)
            next_at += interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_at - time.monotonic()))
        await self.drain()

    async def drain(self) -> None:
        """Wait until every lead posted so far was accepted or refused."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def post_canary(self, scenario: str) -> LeadPlan:
        """Post a rank-A lead (counted like any other) and return once ingest accepted or refused it."""
        plan = canary(self.run, next(self._seq), scenario)
        self.plans.append(plan)
        await self._send(plan)
        return plan

    def _start(self, plan: LeadPlan) -> None:
        self.plans.append(plan)
        task = asyncio.create_task(self._send(plan))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _send(self, plan: LeadPlan) -> None:
        event_id = await self._post_until_accepted(plan)
        if event_id is None:
            self.refused.add(plan.seq)
            return
        self.accepted[plan.seq] = event_id
        if plan.resend:
            again = await self._post_until_accepted(plan)
            if again is not None and again != event_id:
                self.resend_mismatches += 1

    async def _post_until_accepted(self, plan: LeadPlan) -> str | None:
        headers = {"X-API-Key": self.api_key} if self.api_key else {}
        deadline = time.monotonic() + self.settings.client_patience_s
        delay = 0.25
        while time.monotonic() < deadline:
            try:
                response = await self.http.post(
                    f"{self.ingest_url}/v1/events/form", json=plan.body(), headers=headers,
                    timeout=self.settings.client_timeout_s,
                )  # fmt: skip
            except httpx.HTTPError as exc:
                # Connection refused while ingest restarts, or no answer in time: not known to be stored.
                self.statuses[type(exc).__name__] += 1
            else:
                self.statuses[str(response.status_code)] += 1
                if response.status_code == 202:
                    return str(response.json()["event_id"])
                if response.status_code not in RETRYABLE:
                    return None
                delay = max(delay, _retry_after(response))
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 5.0)
        return None


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("Retry-After", "0"))
    except ValueError:
        return 0.0
