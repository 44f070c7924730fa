"""Open-model load: requests leave at a constant rate by the clock, whatever the server does.

Each request's latency runs from its *scheduled* send time, so a server stall that delays the generator
(coordinated omission) still shows up in the percentiles. Several generator processes share one schedule,
interleaved; each records how late it woke, so a run where the generator itself fell behind says so.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

from bench.http import HttpError, Pool
from bench.stats import Latencies, due_count, latencies, percentile, request_count, scheduled_offset, worker_indices
from bench.workload import FORM_MIX, Mix, Post
from shared.normalize import lead_id_for
from shared.signatures import signed_headers


@dataclass(frozen=True)
class LoadSpec:
    """What one generator process sends (picklable: it crosses into a spawned process)."""

    worker: int
    workers: int
    rate: float
    duration_s: float
    start_wall: float
    host: str
    ports: tuple[int, ...]  # ingest's instances: each generator spreads its requests over all of them in turn
    api_key: str
    webhook_secret: str
    run: str
    seed: int
    leads: int
    forms_only: bool
    fresh_rank_a: bool
    max_connections: int
    timeout_s: float


@dataclass
class WorkerResult:
    """What one generator process saw."""

    sent: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    lateness_ms: list[float] = field(default_factory=list)
    span_s: float = 0.0
    cpu_s: float = 0.0  # the generator thread's own CPU: on two cores the harness competes with what it measures
    # Rank-A posts: (lead_id, scheduled wall-clock send time, HTTP status or 0 when it failed).
    rank_a: list[tuple[str, float, int]] = field(default_factory=list)


@dataclass(frozen=True)
class LoadResult:
    """One constant-rate run, all generator processes merged."""

    offered_rate: float
    duration_s: float
    sent: int
    ok: int
    errors: dict[str, int]
    statuses: dict[str, int]
    latency: Latencies | None
    achieved_rate: float
    generator_late_p99_ms: float
    generator_late_max_ms: float
    generator_cpu_s: float
    rank_a: list[tuple[str, float, int]]

    @property
    def generator_cores(self) -> float:
        """The generators' CPU over the offered duration: how much of the machine the harness itself took."""
        return self.generator_cpu_s / self.duration_s if self.duration_s else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "offered_rate": self.offered_rate,
            "duration_s": self.duration_s,
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "statuses": self.statuses,
            "latency_ms": self.latency.as_dict() if self.latency else None,
            "achieved_rate": self.achieved_rate,
            "generator_late_p99_ms": self.generator_late_p99_ms,
            "generator_late_max_ms": self.generator_late_max_ms,
            "generator_cpu_s": self.generator_cpu_s,
            "generator_cores": self.generator_cores,
        }


def _headers(post: Post, spec: LoadSpec) -> dict[str, str]:
    if post.endpoint == "behavior":
        return signed_headers(spec.webhook_secret, int(time.time()), post.body)
    return {"content-type": "application/json", "X-API-Key": spec.api_key}


async def _generate(spec: LoadSpec) -> WorkerResult:
    result = WorkerResult()
    pools = [Pool(spec.host, port, max(1, spec.max_connections // len(spec.ports))) for port in spec.ports]
    mix = Mix(
        seed=spec.seed * 1000 + spec.worker,
        run=spec.run,
        leads=spec.leads,
        weights=FORM_MIX if spec.forms_only else None,
        fresh_rank_a=spec.fresh_rank_a,
        fresh_start=spec.worker,
        fresh_step=spec.workers,
    )
    loop = asyncio.get_running_loop()
    start = loop.time() + (spec.start_wall - time.time())
    indices = worker_indices(spec.worker, spec.workers, request_count(spec.rate, spec.duration_s))
    pending: set[asyncio.Task[None]] = set()
    last_done = start

    async def one(index: int, post: Post, due: float) -> None:
        nonlocal last_done
        status = 0
        # this generator's requests are every ``workers``-th index: its own count picks the instance in turn
        pool = pools[(index // spec.workers) % len(pools)]
        try:
            async with asyncio.timeout(spec.timeout_s):  # no task of its own per request, as wait_for makes
                status, _ = await pool.post(f"/v1/events/{post.endpoint}", post.body, _headers(post, spec))
        except TimeoutError:
            result.errors["timeout"] += 1
        except (HttpError, OSError) as exc:
            result.errors[type(exc).__name__] += 1
        else:
            done = loop.time()
            last_done = max(last_done, done)
            result.latencies_ms.append((done - due) * 1000)
            result.statuses[str(status)] += 1
            if not 200 <= status < 300:
                result.errors[f"http_{status}"] += 1
        if post.rank_a:
            scheduled_wall = spec.start_wall + scheduled_offset(index, spec.rate)
            result.rank_a.append((lead_id_for(post.email), scheduled_wall, status))

    sent = 0
    while sent < len(indices):
        due_now = due_count(indices, spec.rate, loop.time() - start, sent)
        for index in indices[sent : sent + due_now]:
            due = start + scheduled_offset(index, spec.rate)
            result.lateness_ms.append(max(0.0, loop.time() - due) * 1000)
            task = asyncio.create_task(one(index, mix.draw(index), due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        sent += due_now
        if sent < len(indices):
            await asyncio.sleep(max(0.0, start + scheduled_offset(indices[sent], spec.rate) - loop.time()))
    if pending:
        await asyncio.wait(set(pending), timeout=spec.timeout_s + 1)
    for pool in pools:
        await pool.close()
    result.sent = sent
    result.span_s = last_done - start
    return result


def run_worker(spec: LoadSpec) -> WorkerResult:
    """Entry point of a generator process."""
    started = time.thread_time()
    result = asyncio.run(_generate(spec))
    result.cpu_s = time.thread_time() - started
    return result


def merge(rate: float, duration_s: float, parts: Sequence[WorkerResult]) -> LoadResult:
    """One result from every generator process's share."""
    all_latencies = [v for p in parts for v in p.latencies_ms]
    lateness = [v for p in parts for v in p.lateness_ms]
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for part in parts:
        statuses.update(part.statuses)
        errors.update(part.errors)
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))
    span = max([duration_s, *(p.span_s for p in parts)])
    return LoadResult(
        offered_rate=rate,
        duration_s=duration_s,
        sent=sum(p.sent for p in parts),
        ok=ok,
        errors=dict(errors),
        statuses=dict(statuses),
        latency=latencies(all_latencies),
        achieved_rate=ok / span,
        generator_late_p99_ms=percentile(lateness, 99) if lateness else 0.0,
        generator_late_max_ms=max(lateness, default=0.0),
        generator_cpu_s=sum(p.cpu_s for p in parts),
        rank_a=[item for p in parts for item in p.rank_a],
    )


def constant_rate(
    executor: Executor,
    template: LoadSpec,
    *,
    workers: int,
    rate: float,
    duration_s: float,
    lead_time_s: float = 2.0,
) -> LoadResult:
    """Offer ``rate`` requests/s for ``duration_s`` from ``workers`` processes and merge what they saw."""
    # Every process starts on the same wall-clock instant, after the slowest has had time to spawn.
    start_wall = time.time() + lead_time_s
    specs = [
        replace(template, worker=w, workers=workers, rate=rate, duration_s=duration_s, start_wall=start_wall)
        for w in range(workers)
    ]
    parts = list(executor.map(run_worker, specs))
    return merge(rate, duration_s, parts)


def _ready(hold_s: float) -> int:
    # Holding briefly makes each call land on its own process, so every generator is spawned and imported.
    time.sleep(hold_s)
    return 0


def prepare(executor: Executor, workers: int, hold_s: float = 0.5) -> None:
    """Spawn and import every generator process before any schedule starts, so start-up is never lateness."""
    list(executor.map(_ready, [hold_s] * workers))
