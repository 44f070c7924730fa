"""Ingest under load: single events at stepped constant rates (open model), and the batch endpoint flat out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any

import httpx
import orjson

from bench.http import HttpError, Pool
from bench.loadgen import LoadResult, LoadSpec, constant_rate
from bench.plan import BenchPlan
from bench.stats import StepVerdict, highest_sustained, judge_step
from bench.workload import Mix


@dataclass(frozen=True)
class Staircase:
    """Every step offered, and what it says."""

    steps: list[tuple[float, LoadResult, StepVerdict]]
    max_sustained_rate: float
    reference: LoadResult | None

    def as_dict(self) -> dict[str, object]:
        return {
            "max_sustained_rate": self.max_sustained_rate,
            "steps": [{**r.as_dict(), "sustained": v.sustained, "verdict": v.reason} for _, r, v in self.steps],
            "reference": self.reference.as_dict() if self.reference else None,
        }


def staircase(executor: Executor, template: LoadSpec, plan: BenchPlan, run: str) -> Staircase:
    """Raise the offered rate step by step until a step is not sustained; the reference rate is always run."""
    steps: list[tuple[float, LoadResult, StepVerdict]] = []
    for rate in plan.ingest_rates:
        spec = replace(template, run=f"{run}-{rate}")
        result = constant_rate(executor, spec, workers=plan.generators, rate=rate, duration_s=plan.ingest_step_seconds)
        verdict = _judge(result, plan)
        steps.append((rate, result, verdict))
        print(f"    {rate:>6}/s offered: {_line(result)} → {verdict.reason}", flush=True)
        if not verdict.sustained:
            break
    reference = next((r for rate, r, _ in steps if rate == plan.ingest_reference_rate), None)
    if reference is None:
        recover(template, plan.recovery_timeout_s)
        rate = plan.ingest_reference_rate
        spec = replace(template, run=f"{run}-ref")
        reference = constant_rate(
            executor, spec, workers=plan.generators, rate=rate, duration_s=plan.ingest_step_seconds
        )
        print(f"    {rate:>6}/s reference: {_line(reference)}", flush=True)
    return Staircase(steps, highest_sustained([(rate, v) for rate, _, v in steps]), reference)


def recover(template: LoadSpec, timeout_s: float, quick_s: float = 0.5) -> bool:
    """Wait until every ingest instance answers /healthz quickly again: a step that overloaded it leaves a queue
    behind, which must not be charged to the next measurement."""
    deadline = time.monotonic() + timeout_s
    waiting = list(template.ports)
    while waiting and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            answered = httpx.get(f"http://{template.host}:{waiting[0]}/healthz", timeout=quick_s * 4).is_success
        except httpx.HTTPError:
            answered = False
        if answered and time.monotonic() - started < quick_s:
            waiting.pop(0)
        else:
            time.sleep(quick_s)
    return not waiting


def _judge(result: LoadResult, plan: BenchPlan) -> StepVerdict:
    return judge_step(
        offered_rate=result.offered_rate,
        achieved_rate=result.achieved_rate,
        p99_ms=result.latency.p99 if result.latency else None,
        errors=sum(result.errors.values()),
        generator_late_p99_ms=result.generator_late_p99_ms,
        p99_limit_ms=plan.ingest_p99_limit_ms,
        min_achieved_share=plan.min_achieved_share,
        generator_late_limit_ms=plan.generator_late_limit_ms,
    )


def _line(result: LoadResult) -> str:
    lat = result.latency
    timing = f"p50 {lat.p50:.1f} ms, p99 {lat.p99:.1f} ms" if lat else "no response"
    errors = ", ".join(f"{n} {kind}" for kind, n in sorted(result.errors.items())) or "0 errors"
    late, cores = result.generator_late_p99_ms, result.generator_cores
    return (
        f"{result.achieved_rate:.0f}/s done, {timing}, {errors}, generator late p99 {late:.1f} ms, "
        f"generators {cores:.2f} cores"
    )


@dataclass(frozen=True)
class BatchResult:
    """The batch endpoint flat out with a few requests in flight."""

    requests: int
    accepted: int
    rejected: int
    errors: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "errors": self.errors,
            "seconds": self.seconds,
            "events_per_s": self.events_per_s,
        }


def batch_bodies(plan: BenchPlan, run: str) -> list[bytes]:
    """``batch_requests`` bodies of ``batch_size`` mixed events each, built before the clock starts."""
    mix = Mix(seed=plan.seed, run=run, leads=plan.drain_leads)
    posts = mix.stream(plan.batch_requests * plan.batch_size)
    bodies = []
    for _ in range(plan.batch_requests):
        items: list[dict[str, Any]] = []
        for _, post in zip(range(plan.batch_size), posts, strict=False):
            items.append({"channel": post.endpoint, "event": orjson.loads(post.body)})
        bodies.append(orjson.dumps({"events": items}))
    return bodies


async def batch_rate(
    host: str, ports: Sequence[int], api_key: str, plan: BenchPlan, bodies: list[bytes]
) -> BatchResult:
    """Post every body with ``batch_concurrency`` in flight, the clients spread over ingest's instances; events/s
    counts only the accepted ones."""
    pools = [Pool(host, port, plan.batch_concurrency) for port in ports]
    queue = list(reversed(bodies))
    accepted = rejected = errors = 0
    headers = {"content-type": "application/json", "X-API-Key": api_key}

    async def client(pool: Pool) -> None:
        nonlocal accepted, rejected, errors
        while queue:
            body = queue.pop()
            try:
                status, payload = await asyncio.wait_for(pool.post("/v1/events/batch", body, headers), 120)
            except (TimeoutError, HttpError, OSError):
                errors += 1
                continue
            if status != 207:
                errors += 1
                continue
            answer = orjson.loads(payload)
            accepted += int(answer["accepted"])
            rejected += int(answer["rejected"])

    started = time.perf_counter()
    await asyncio.gather(*(client(pools[n % len(pools)]) for n in range(plan.batch_concurrency)))
    seconds = time.perf_counter() - started
    for pool in pools:
        await pool.close()
    return BatchResult(len(bodies), accepted, rejected, errors, seconds)
