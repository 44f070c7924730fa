"""One benchmark run, phase by phase, on its own stack; writes the result JSON and prints the table.

Order: the raw Kafka limit first (nothing else running on the broker), then ingest alone (consumers stopped,
its backlog skipped afterwards), then lead-to-alert latency with the whole pipeline, then the drains, which
leave the largest database behind. A phase that fails is reported in the notes and the run goes on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import alert, drain, floor, ingest, kafka_limit
from bench.loadgen import LoadSpec, constant_rate, prepare
from bench.machine import load_average, machine_facts
from bench.plan import MAX_INSTANCES, BenchPlan
from bench.procs import ProcessWatch, cpu_delta, pid_of
from bench.report import RESULTS_DIR, Figure, build_result, render_table, write_result
from bench.stats import per_thousand
from bench.team import write_team_config
from leadflow import stack

CONSUMERS = ("scoring", "router", "notifier")
# The bench is one trusted sender: per-source throttling would measure the limiter, not ingest.
BENCH_SERVICE_ENV = {
    "RATE_LIMIT_PER_SOURCE_PER_S": "1000000",
    "RATE_LIMIT_SOURCE_BURST": "1000000",
    "LOG_LEVEL": "WARNING",
}
KAFKA_JAVA = "kafka.java.records_per_s"
KAFKA_AIO = "kafka.aiokafka.records_per_s"
KAFKA_P50 = "kafka.java.p50_ms_at_rate"
KAFKA_P99 = "kafka.java.p99_ms_at_rate"
THROUGHPUT_REFS = (KAFKA_JAVA, KAFKA_AIO)
FLOOR_SINGLE = "floor.http_single.requests_per_s"
FLOOR_BATCH = "floor.http_batch.events_per_s"
FLOOR_CONSUMER = "floor.consumer.records_per_s"
FLOOR_CONSUMER_HISTORY = "floor.consumer_history.records_per_s"
FLOOR_PORT_OFFSET = 50  # the floor app listens beside the slot's ingest


def say(message: str) -> None:
    print(f"▸ {message}", flush=True)


@dataclasses.dataclass
class Run:
    """What a run accumulates as it goes."""

    plan: BenchPlan
    lay: stack.Layout
    watch: ProcessWatch
    run_id: str
    values: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return stack.kafka_bootstrap(self.lay)

    def add(self, name: str, value: float | None) -> None:
        if value is not None:
            self.values.setdefault(name, []).append(value)

    def detail(self, phase: str, item: Any) -> None:
        self.details.setdefault(phase, []).append(item)

    def add_cpu(self, phase: str, cpu: dict[str, float], events: int) -> None:
        for process, seconds in sorted(cpu.items()):
            self.add(f"cpu.{phase}.{process}", per_thousand(seconds, events))


def _specs(run: Run, names: Iterable[str]) -> list[stack.ServiceSpec]:
    """The processes of these services: ingest runs as ``plan.ingest_instances`` instances, the others as one."""
    return [
        run.lay.service(name, instance)
        for name in names
        for instance in range(1, (run.plan.ingest_instances if name == "ingest" else 1) + 1)
    ]


def _ensure_running(run: Run, names: Iterable[str]) -> None:
    specs = _specs(run, names)
    for spec in specs:
        stack.start_service(run.lay, spec)
    for spec in specs:
        stack.wait_service(run.lay, spec)


def _stop(run: Run, names: Iterable[str]) -> None:
    run.watch.snapshot()  # a stopped process takes its peak RSS with it: fold it in first
    for spec in _specs(run, names):
        stack.stop_service(run.lay, spec)


def _ingest_ports(run: Run) -> tuple[int, ...]:
    return tuple(spec.port for spec in _specs(run, ["ingest"]))


def _api_key(lay: stack.Layout) -> str:
    keys = os.environ.get("INGEST_API_KEYS") or dict(lay.env).get("INGEST_API_KEYS", "")
    return keys.split(",")[0]


def _webhook_secret(lay: stack.Layout) -> str:
    return os.environ.get("WEBHOOK_SECRET") or dict(lay.env).get("WEBHOOK_SECRET", "")


def _load_template(run: Run, *, forms_only: bool, fresh_rank_a: bool, leads: int) -> LoadSpec:
    return LoadSpec(
        worker=0, workers=1, rate=1.0, duration_s=1.0, start_wall=0.0,
        host="127.0.0.1", ports=_ingest_ports(run), api_key=_api_key(run.lay), webhook_secret=_webhook_secret(run.lay),
        run=run.run_id, seed=run.plan.seed, leads=leads, forms_only=forms_only, fresh_rank_a=fresh_rank_a,
        max_connections=run.plan.connections_per_generator, timeout_s=run.plan.request_timeout_s,
    )  # fmt: skip


async def _fast_forward_all(bootstrap: str) -> None:
    for consumer in drain.CHAIN:
        await drain.fast_forward(bootstrap, consumer)


async def _wait_drained(bootstrap: str, timeout_s: float, poll_s: float = 0.5) -> bool:
    """Until every consumer of the chain shows lag zero twice in a row (a record in flight between hops shows
    as lag on the next topic only once it is published)."""
    deadline = time.monotonic() + timeout_s
    zero_in_a_row = 0
    while time.monotonic() < deadline:
        lags = await drain.group_lags(bootstrap)
        zero_in_a_row = zero_in_a_row + 1 if not any(lags.values()) else 0
        if zero_in_a_row >= 2:
            return True
        await asyncio.sleep(poll_s)
    return False


# ---------------------------------------------------------------- phases


def phase_kafka(run: Run) -> None:
    """Kafka's own producer (Java) and aiokafka's, at the byte size of a real lead-event record."""
    plan = run.plan
    sizes = kafka_limit.record_sizes(plan.seed)
    size = round(sizes["median"])
    run.details["record_size_bytes"] = sizes
    say(f"Raw Kafka limit: records of {size} bytes (median lead-event record), acks=all, idempotent")
    asyncio.run(kafka_limit.ensure_topic(run.bootstrap, kafka_limit.RAW_TOPIC))
    try:
        for repeat in range(plan.repeats):
            flat = kafka_limit.java_producer(
                run.bootstrap, records=plan.kafka_records, record_size=size, heap=plan.kafka_heap
            )
            paced = kafka_limit.java_producer(
                run.bootstrap,
                records=round(plan.kafka_latency_rate * plan.kafka_latency_seconds),
                record_size=size,
                throughput=plan.kafka_latency_rate,
                heap=plan.kafka_heap,
            )
            aio = asyncio.run(kafka_limit.aiokafka_loop(run.bootstrap, records=plan.kafka_records, record_size=size))
            run.add(KAFKA_JAVA, flat.records_per_s)
            run.add(KAFKA_AIO, aio)
            run.add(KAFKA_P50, paced.p50_ms)
            run.add(KAFKA_P99, paced.p99_ms)
            run.detail("kafka", {"java_flat_out": flat.__dict__, "java_paced": paced.__dict__, "aiokafka": aio})
            say(
                f"  repeat {repeat + 1}: Java {flat.records_per_s:,.0f}/s, aiokafka {aio:,.0f}/s, "
                f"Java at {plan.kafka_latency_rate}/s p50 {paced.p50_ms:g} ms p99 {paced.p99_ms:g} ms"
            )
    finally:
        asyncio.run(kafka_limit.delete_topic(run.bootstrap, kafka_limit.RAW_TOPIC))


def _floor_bodies(run: Run, repeat: int) -> tuple[str, str]:
    """A form post and a batch body whose event ids (and the form's email) wrk numbers per request (``@N@``)."""
    tag = f"{run.run_id}-{repeat}"
    form = (
        f'{{"email":"floor@N@.{tag}@c1.bench-en.example","name":"Alex","company":"Globex Corporation",'
        '"title":"Marketing Manager","industry":"software","employees":45,"country":"DE","form":"newsletter",'
        f'"event_id":"floor-{tag}-@N@"}}'
    )
    batch = ingest.batch_bodies(dataclasses.replace(run.plan, batch_requests=1), f"{run.run_id}-f{repeat}")[0]
    return form, batch.decode().replace('"event_id":"', '"event_id":"f@N@-')


def phase_floor(run: Run) -> None:
    """The bare Python floor beside ingest under the same wrk load, then a bare consumer's drain (bench/floor.py)."""
    plan = run.plan
    say("Python floor: a bare HTTP → Kafka app and real ingest under wrk, then a bare consume → store → publish")
    _stop(run, CONSUMERS)
    _ensure_running(run, ["ingest"])
    ingest_spec = run.lay.service("ingest")
    size = round(kafka_limit.record_sizes(plan.seed)["median"])
    asyncio.run(kafka_limit.ensure_topic(run.bootstrap, floor.HTTP_TOPIC))

    def services_cpu() -> dict[str, float]:
        return {k: v for k, v in run.watch.snapshot().items() if k in ("kafka", "postgres")}

    try:
        for repeat in range(plan.repeats):
            form, batch = _floor_bodies(run, repeat)
            http = floor.http_floor(
                run.lay, ingest_port=ingest_spec.port, ingest_pid=pid_of(run.lay, ingest_spec.process),
                floor_port=ingest_spec.port + FLOOR_PORT_OFFSET, services_cpu=services_cpu, form=form, batch=batch,
                headers={"Content-Type": "application/json", "X-API-Key": _api_key(run.lay)},
                seconds=plan.floor_seconds, connections=plan.floor_connections,
                batch_connections=plan.batch_concurrency,
            )  # fmt: skip
            database = stack.database_url(run.lay)
            consumer, history = (
                asyncio.run(floor.consumer_floor(run.bootstrap, database, records=plan.floor_records,
                                                 leads=plan.floor_leads, record_size=size, services_cpu=services_cpu,
                                                 read_history=read))
                for read in (False, True)
            )  # fmt: skip
            run.add(FLOOR_SINGLE, http.bare_single.requests_per_s)
            run.add("ingest.wrk_single.requests_per_s", http.ingest_single.requests_per_s)
            run.add(FLOOR_BATCH, http.bare_batch.requests_per_s * plan.batch_size)
            run.add("ingest.wrk_batch.events_per_s", http.ingest_batch.requests_per_s * plan.batch_size)
            run.add(FLOOR_CONSUMER, consumer.records_per_s)
            run.add(FLOOR_CONSUMER_HISTORY, history.records_per_s)
            for name, wrk in (("bare_single", http.bare_single), ("ingest_single", http.ingest_single)):
                run.add_cpu(f"wrk_{name}", wrk.cpu_s, wrk.requests)
            for name, wrk in (("bare_batch", http.bare_batch), ("ingest_batch", http.ingest_batch)):
                run.add_cpu(f"wrk_{name}", wrk.cpu_s, wrk.requests * plan.batch_size)
            run.add_cpu("floor_consumer", consumer.cpu_s, consumer.records)
            run.add_cpu("floor_consumer_history", history.cpu_s, history.records)
            run.detail(
                "floor",
                {**dataclasses.asdict(http), "consumer": dataclasses.asdict(consumer),
                 "consumer_history": dataclasses.asdict(history)},
            )  # fmt: skip
            for name, figures in dataclasses.asdict(http).items():
                if figures["non_2xx"] or figures["socket_errors"]:
                    run.notes.append(
                        f"floor {name}: {figures['non_2xx']} non-2xx answers, {figures['socket_errors']} socket errors"
                    )
            say(
                f"  repeat {repeat + 1}: single bare {http.bare_single.requests_per_s:,.0f}/s, ingest "
                f"{http.ingest_single.requests_per_s:,.0f}/s; batch bare "
                f"{http.bare_batch.requests_per_s * plan.batch_size:,.0f}, ingest "
                f"{http.ingest_batch.requests_per_s * plan.batch_size:,.0f} events/s; consume → store → publish "
                f"{consumer.records_per_s:,.0f}/s, with each lead's stored records read {history.records_per_s:,.0f}/s"
            )
    finally:
        asyncio.run(kafka_limit.delete_topic(run.bootstrap, floor.HTTP_TOPIC))
        asyncio.run(_fast_forward_all(run.bootstrap))
        _ensure_running(run, CONSUMERS)


def phase_ingest(run: Run, executor: ProcessPoolExecutor) -> None:
    """Single events at stepped constant rates, then the batch endpoint; consumers stopped meanwhile."""
    plan = run.plan
    say("Ingest: consumers stopped, so ingest is measured alone; their backlog is skipped afterwards")
    _stop(run, CONSUMERS)
    _ensure_running(run, ["ingest"])
    template = _load_template(run, forms_only=True, fresh_rank_a=False, leads=plan.drain_leads)
    try:
        constant_rate(
            executor, dataclasses.replace(template, run=f"{run.run_id}-warmup"),
            workers=plan.generators, rate=plan.warmup_rate, duration_s=plan.warmup_seconds,
        )  # fmt: skip
        for repeat in range(plan.repeats):
            say(f"  repeat {repeat + 1}: POST /v1/events/form at constant offered rates (open model)")
            before = run.watch.snapshot()
            stairs = ingest.staircase(executor, template, plan, f"{run.run_id}-r{repeat}")
            cpu = cpu_delta(before, run.watch.snapshot())
            run.add("ingest.single.max_sustained_rate", stairs.max_sustained_rate)
            if stairs.reference and stairs.reference.latency:
                run.add("ingest.single.p50_at_1000", stairs.reference.latency.p50)
                run.add("ingest.single.p99_at_1000", stairs.reference.latency.p99)
            events = sum(r.ok for _, r, _ in stairs.steps) + (stairs.reference.ok if stairs.reference else 0)
            run.add_cpu("ingest_single", {k: v for k, v in cpu.items() if k in ("ingest", "kafka")}, events)
            run.detail("ingest_single", stairs.as_dict())

            bodies = ingest.batch_bodies(plan, f"{run.run_id}-b{repeat}")
            before = run.watch.snapshot()
            batch = asyncio.run(ingest.batch_rate("127.0.0.1", _ingest_ports(run), _api_key(run.lay), plan, bodies))
            cpu = cpu_delta(before, run.watch.snapshot())
            run.add("ingest.batch.events_per_s", batch.events_per_s)
            run.add_cpu("ingest_batch", {k: v for k, v in cpu.items() if k in ("ingest", "kafka")}, batch.accepted)
            run.detail("ingest_batch", batch.as_dict())
            say(
                f"    batch: {batch.events_per_s:,.0f} events/s ({batch.requests} × {plan.batch_size}, "
                f"{batch.rejected} rejected, {batch.errors} errors)"
            )
    finally:
        asyncio.run(_fast_forward_all(run.bootstrap))
        _ensure_running(run, CONSUMERS)


def phase_alert(run: Run, executor: ProcessPoolExecutor) -> None:
    """A constant rate of the realistic mix through the whole pipeline; rank-A events timed to their alert."""
    plan = run.plan
    _ensure_running(run, ("ingest", *CONSUMERS))
    template = _load_template(run, forms_only=False, fresh_rank_a=True, leads=plan.alert_background_leads)
    for repeat in range(plan.repeats):
        say(
            f"Lead-to-alert: {plan.alert_rate}/s of the realistic mix for {plan.alert_seconds:g}s (repeat {repeat + 1})"
        )
        if not asyncio.run(_wait_drained(run.bootstrap, plan.alert_settle_timeout_s)):
            run.notes.append(f"alert repeat {repeat + 1}: the pipeline still had lag before the run started")
        alert.clear_slack(run.lay.standin_url)
        starts = asyncio.run(alert.end_offsets(run.bootstrap))
        before = run.watch.snapshot()
        load = constant_rate(
            executor, dataclasses.replace(template, run=f"{run.run_id}-a{repeat}"),
            workers=plan.generators, rate=plan.alert_rate, duration_s=plan.alert_seconds,
        )  # fmt: skip
        drained = asyncio.run(_wait_drained(run.bootstrap, plan.alert_settle_timeout_s))
        cpu = cpu_delta(before, run.watch.snapshot())
        owed = {lead for lead, _, status in load.rank_a if 200 <= status < 300}
        found = alert.collect_alerts(run.lay.standin_url, owed, settle_timeout_s=10 if drained else 1)
        figures = alert.alert_figures(load.rank_a, found)
        accepted = [(lead, sent) for lead, sent, status in load.rank_a if 200 <= status < 300]
        hops = alert.hop_latencies(accepted, asyncio.run(alert.first_record_times(run.bootstrap, starts, owed)), found)
        for hop, hop_latency in hops.items():
            if hop_latency:
                run.add(f"alert.hop.{hop}.p50_ms", hop_latency.p50)
                run.add(f"alert.hop.{hop}.p99_ms", hop_latency.p99)
        if figures.latency:
            run.add("alert.p50_ms", figures.latency.p50)
            run.add("alert.p99_ms", figures.latency.p99)
            run.add("alert.max_ms", figures.latency.max)
        run.add("alert.delivered_share", figures.delivered_share)
        run.add_cpu("pipeline", cpu, load.ok)
        run.detail(
            "alert",
            {
                "load": load.as_dict(),
                "alerts": figures.as_dict(),
                "hops_ms": {hop: lat.as_dict() if lat else None for hop, lat in hops.items()},
                "drained": drained,
            },
        )
        lat = figures.latency
        say(
            f"  {load.ok} accepted ({sum(load.errors.values())} errors), {figures.delivered}/{figures.owed} "
            f"alerts delivered" + (f", p50 {lat.p50:.0f} ms, p99 {lat.p99:.0f} ms, max {lat.max:.0f} ms" if lat else "")
        )
        say("  per hop, p50 / p99 ms: " + ", ".join(
            f"{hop} {h.p50:.0f} / {h.p99:.0f}" if h else f"{hop} —" for hop, h in hops.items()
        ))  # fmt: skip
    alert.clear_slack(run.lay.standin_url)


def phase_drain(run: Run) -> None:
    """Pre-fill lead-events, then scoring, router and notifier each alone until their lag is zero."""
    plan = run.plan
    try:
        for repeat in range(plan.repeats):
            _stop(run, ("ingest", *CONSUMERS))
            asyncio.run(_fast_forward_all(run.bootstrap))
            scale = f"{plan.drain_events:,} events over {plan.drain_leads:,} leads"
            say(f"Drains (repeat {repeat + 1}): pre-filling {scale}")
            took = asyncio.run(
                drain.prefill(
                    run.bootstrap, events=plan.drain_events, leads=plan.drain_leads, seed=plan.seed + repeat,
                    run=f"{run.run_id}-d{repeat}",
                )
            )  # fmt: skip
            say(f"  pre-filled in {took:.1f}s")
            for consumer in drain.CHAIN:

                def cpu_of(name: str = consumer.service) -> dict[str, float]:
                    snap = run.watch.snapshot()
                    # the notifier's drain is also the stand-ins' work: Slack and the mail sink answer every alert
                    also = ("standins",) if name == "notifier" else ()
                    return {k: v for k, v in snap.items() if k in (name, "kafka", "postgres", *also)}

                result = asyncio.run(
                    drain.timed_drain(
                        run.lay, consumer, poll_s=plan.lag_poll_s, timeout_s=plan.drain_timeout_s, cpu_of=cpu_of
                    )
                )
                _stop(run, [consumer.service])
                run.add(f"drain.{consumer.service}.events_per_s", result.records_per_s)
                run.add_cpu(f"drain_{consumer.service}", result.cpu_s, result.records)
                run.detail("drain", {"repeat": repeat, **result.as_dict()})
                left = f" (time cap reached, {result.left:,} left)" if result.left else ""
                say(
                    f"  {consumer.service} alone: {result.records:,} records in {result.seconds:.1f}s = "
                    f"{result.records_per_s:,.0f}/s{left}"
                )
                if result.left:
                    run.notes.append(f"drain {consumer.service}: time cap reached with {result.left:,} records left")
                if consumer.service == plan.drain_until:
                    break
            alert.clear_slack(run.lay.standin_url)
    finally:
        _ensure_running(run, ("ingest", *CONSUMERS))


# ---------------------------------------------------------------- figures


def _figures(run: Run) -> list[Figure]:
    plan = run.plan
    rate = plan.kafka_latency_rate
    specs: list[tuple[str, str, str, tuple[str, ...]]] = [
        (KAFKA_JAVA, "Kafka ProducerPerformance (Java), flat out", "records/s", ()),
        (KAFKA_AIO, "aiokafka producer, bare loop", "records/s", (KAFKA_JAVA,)),
        (KAFKA_P50, f"Kafka produce latency p50 at {rate}/s", "ms", ()),
        (KAFKA_P99, f"Kafka produce latency p99 at {rate}/s", "ms", ()),
        (FLOOR_SINGLE, "Python floor: bare HTTP → Kafka, single, wrk", "requests/s", ()),
        ("ingest.wrk_single.requests_per_s", "Ingest single, same wrk load", "requests/s", (FLOOR_SINGLE,)),
        (FLOOR_BATCH, f"Python floor: bare HTTP → Kafka, batch of {plan.batch_size}", "events/s", ()),
        ("ingest.wrk_batch.events_per_s", "Ingest batch, same wrk load", "events/s", (FLOOR_BATCH,)),
        (FLOOR_CONSUMER, "Python floor: consume → store → publish", "records/s", ()),
        (FLOOR_CONSUMER_HISTORY, "  … and read each lead's stored records", "records/s", ()),
        ("ingest.single.max_sustained_rate", "Ingest single events: highest sustained rate", "events/s",
         THROUGHPUT_REFS),
        ("ingest.single.p50_at_1000", f"Ingest p50 at {plan.ingest_reference_rate}/s", "ms", (KAFKA_P50,)),
        ("ingest.single.p99_at_1000", f"Ingest p99 at {plan.ingest_reference_rate}/s", "ms", (KAFKA_P99,)),
        ("ingest.batch.events_per_s", f"Ingest batch ({plan.batch_size}/request)", "events/s", THROUGHPUT_REFS),
        ("drain.scoring.events_per_s", "Scoring drain, alone", "events/s", (*THROUGHPUT_REFS, FLOOR_CONSUMER_HISTORY)),
        ("drain.router.events_per_s", "Router drain, alone", "records/s", THROUGHPUT_REFS),
        ("drain.notifier.events_per_s", "Notifier drain, alone", "records/s", THROUGHPUT_REFS),
        ("alert.p50_ms", f"Lead-to-alert p50 at {plan.alert_rate}/s", "ms", (KAFKA_P50,)),
        ("alert.p99_ms", f"Lead-to-alert p99 at {plan.alert_rate}/s", "ms", (KAFKA_P99,)),
        ("alert.max_ms", f"Lead-to-alert max at {plan.alert_rate}/s", "ms", ()),
        ("alert.delivered_share", "Alerts delivered", "share", ()),
        *((f"alert.hop.{hop}.p{q}_ms", f"  of which {hop}, p{q}", "ms", ()) for hop in alert.HOPS for q in (50, 99)),
    ]  # fmt: skip
    figures = [Figure(name, label, unit, tuple(run.values.get(name, [])), refs) for name, label, unit, refs in specs]
    for name, peak in sorted(run.watch.peak_mb.items()):
        figures.append(Figure(f"rss.{name}", f"Peak RSS {name}", "MB", (peak,)))
    for name in sorted(k for k in run.values if k.startswith("cpu.")):
        _, phase, process = name.split(".")
        figures.append(Figure(name, f"CPU {process} per 1,000 events ({phase})", "s", tuple(run.values[name])))
    return figures


def execute(plan: BenchPlan, *, output_dir: Path = RESULTS_DIR, argv: list[str] | None = None) -> Path:
    """Run every phase on the plan's own stack; returns the path of the result JSON."""
    started = datetime.now(UTC)
    for key, value in BENCH_SERVICE_ENV.items():
        os.environ.setdefault(key, value)
    lay = stack.layout_for_tests(plan.slot)
    if plan.fresh:
        say(f"Fresh stack for slot {plan.slot}: deleting its previous data")
        stack.reset(lay)
    else:
        # services started before this run may run older code; so may extra ingest instances
        for spec in (*lay.services, *(lay.service("ingest", n) for n in range(2, MAX_INSTANCES + 1))):
            stack.stop_service(lay, spec)
    config = write_team_config(lay.config_dir, lay.home / "bench-config", plan.team_reps)
    say(f"Routing to a team of {plan.team_reps} reps ({config / 'routing.yaml'})")
    lay = dataclasses.replace(lay, config_dir=config)
    stack.up(lay)
    run = Run(plan, lay, ProcessWatch(lay), run_id=started.strftime("%Y%m%d%H%M%S"))
    if plan.ingest_instances > 1:
        say(f"Ingest: {plan.ingest_instances} instances (ports {', '.join(map(str, _ingest_ports(run)))})")
        _ensure_running(run, ["ingest"])
    machine = machine_facts()
    context = multiprocessing.get_context("spawn")  # a clean interpreter per generator, no inherited event loop
    phases: list[tuple[str, Callable[[], None]]] = []
    try:
        with ProcessPoolExecutor(max_workers=plan.generators, mp_context=context) as executor:
            prepare(executor, plan.generators)
            phases = [
                ("kafka", lambda: phase_kafka(run)),
                ("floor", lambda: phase_floor(run)),
                ("ingest", lambda: phase_ingest(run, executor)),
                ("alert", lambda: phase_alert(run, executor)),
                ("drain", lambda: phase_drain(run)),
            ]
            for name, phase in phases:
                if name not in plan.phases:
                    continue
                try:
                    phase()
                except Exception as exc:
                    traceback.print_exc()
                    run.notes.append(f"phase {name} failed: {type(exc).__name__}: {exc}")
        run.watch.snapshot()
    finally:
        machine["load_average_at_end"] = load_average()
        if not plan.keep_stack:
            stack.down(lay)
    run.notes.append(
        "Measured with every component on this one machine; other work on it (see load_average_*) adds noise."
    )
    finished = datetime.now(UTC)
    plan_dict = {k: v for k, v in dataclasses.asdict(plan).items() if k != "targets"}
    plan_dict["targets"] = {k: t.label() for k, t in plan.targets.items()}
    plan_dict["argv"] = argv or []
    result = build_result(
        figures=_figures(run), targets=plan.targets, machine=machine, plan=plan_dict, details=run.details,
        started_at=started, finished_at=finished, notes=run.notes,
    )  # fmt: skip
    path = write_result(result, started, output_dir)
    print()
    print(render_table(result))
    print()
    for note in run.notes:
        print(f"  note: {note}")
    say(f"Result: {path}")
    return path
