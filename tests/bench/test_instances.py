"""Ingest as several instances in the bench: the generator spreads its requests, /proc figures add up per service."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bench.loadgen import LoadSpec, WorkerResult, _generate, merge, run_worker
from bench.procs import ProcessWatch, cpu_seconds
from leadflow import stack
from tests.bench.servers import keep_alive_server

Instances = tuple[list[int], Callable[[], list[int]]]


@pytest.fixture
async def two_instances() -> AsyncIterator[Instances]:
    """Two keep-alive servers answering 202: their ports, and how many requests each has taken so far."""
    async with keep_alive_server(lambda: None) as (a, a_served), keep_alive_server(lambda: None) as (b, b_served):
        yield [a, b], lambda: [sum(a_served), sum(b_served)]


def _spec(ports: list[int], worker: int, workers: int) -> LoadSpec:
    return LoadSpec(
        worker=worker, workers=workers, rate=200.0, duration_s=0.5, start_wall=time.time() + 0.1,
        host="127.0.0.1", ports=tuple(ports), api_key="k", webhook_secret="s", run="inst", seed=1, leads=50,
        forms_only=True, fresh_rank_a=False, max_connections=8, timeout_s=5.0,
    )  # fmt: skip


@pytest.mark.parametrize("workers", [1, 2])
async def test_generators_alternate_their_requests_over_the_instances(two_instances: Instances, workers: int) -> None:
    # Generators share one schedule (every ``workers``-th index each); each still alternates, so neither instance
    # gets one generator's whole share
    ports, counts = two_instances
    for worker in range(workers):
        result = await _generate(_spec(ports, worker=worker, workers=workers))
        assert result.sent == 100 // workers
        assert sum(result.statuses.values()) == 100 // workers
        served = (worker + 1) * 100 // workers
        assert counts() == [served // 2, served // 2]


def test_a_services_instances_add_up_to_its_cpu_and_each_keeps_its_peak_rss(tmp_path: Path) -> None:
    # Given a layout whose ingest runs as two instances (this process and a busy child)
    lay = dataclasses.replace(stack.layout_for_tests(9), home=tmp_path)
    lay.run.mkdir(parents=True)
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 30\nwhile time.time() < end: pass"]
    )
    try:
        (lay.run / "ingest.pid").write_text(str(os.getpid()))
        (lay.run / "ingest-2.pid").write_text(str(child.pid))
        deadline = time.monotonic() + 10
        while (cpu_seconds(child.pid) or 0.0) <= 0.1 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the child has spent a measurable share of a core
        # When a snapshot is taken
        watch = ProcessWatch(lay)
        snap = watch.snapshot()
        own, other = cpu_seconds(os.getpid()), cpu_seconds(child.pid)
        # Then the service's CPU is both processes' (read a moment apart: within a tenth of a second) …
        assert own is not None
        assert other is not None
        assert other > 0.1
        assert snap["ingest"] == pytest.approx(own + other, abs=0.1)
        # … and each instance's peak RSS is kept under its own name
        assert set(watch.peak_mb) == {"ingest", "ingest-2"}
    finally:
        child.kill()
        child.wait()


async def test_a_generator_reports_the_cpu_its_own_thread_used(two_instances: Instances) -> None:
    # Given a generator run in a thread of its own, as in its process (the servers run on this test's loop)
    ports, _ = two_instances
    started = time.monotonic()
    result = await asyncio.to_thread(run_worker, _spec(ports, worker=0, workers=1))
    wall = time.monotonic() - started
    # Then its CPU is counted, and it cannot exceed the time the thread existed
    assert result.sent == 100
    assert 0 < result.cpu_s <= wall


def test_merged_generators_report_their_cpu_together() -> None:
    # Given two generator processes' shares of a 10 s run
    parts = [WorkerResult(sent=1, cpu_s=1.5), WorkerResult(sent=1, cpu_s=2.5)]
    # When they are merged
    merged = merge(100.0, 10.0, parts)
    # Then the run reports their CPU summed, and as cores over its duration
    assert merged.generator_cpu_s == 4.0
    assert merged.generator_cores == pytest.approx(0.4)
    assert merged.as_dict()["generator_cores"] == pytest.approx(0.4)
