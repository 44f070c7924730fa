"""The Python floor: the least any service could do per event on this machine, measured bare beside LeadFlow.

The raw Kafka limit (``kafka_limit``) says what the broker takes; these say what a Python process on the same
two cores gets through when it does nothing but the contract's unavoidable part, so a missed target can be
told apart: LeadFlow's own work (the gap between its figure and the floor), or the machine and the runtime
(a floor already under the target).

- **HTTP → Kafka** (ingest's floor): a bare ASGI app (``bench/floor_app.py``: no framework, no validation, no
  database) under ingest's uvicorn, uvloop, httptools and producer settings, answering 202 once Kafka
  acknowledged. Driven flat out by wrk (closed loop: a ceiling, not a latency), single records and batches of
  ingest's batch body. Real ingest is driven the same way in the same run, for the ratio.
- **Consume → store → publish** (every consumer's floor, scoring's above all): aiokafka's consumer over a
  pre-filled topic of lead-event-sized records; per fetch one PostgreSQL transaction (raw asyncpg: the records
  inserted, a row per lead upserted), one published record per lead, then the offset commit. No parsing
  beyond the JSON column, no scoring. A second drain also reads back every stored record of the batch's leads
  (``read_history``), as scoring must to recompute a score from a lead's events: the floor of that design.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.kafka_limit import delete_topic, ensure_topic
from bench.procs import cpu_delta, cpu_seconds, pid_of
from leadflow import stack
from shared.kafka import OutgoingMessage, create_producer, publish_all, publish_stream

HTTP_TOPIC = "leadflow.bench.floor-http"
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")

# Each request a body of its own: ``@N@`` becomes a counter, so real ingest sees no duplicates.
_WRK_SCRIPT = """
local template = [==[%(body)s]==]
local headers = {%(headers)s}
local n = 0
request = function()
  n = n + 1
  local body = string.gsub(template, "@N@", tostring(n))
  return wrk.format("POST", "%(path)s", headers, body)
end
"""


class FloorError(RuntimeError):
    """wrk or the floor app failed, or printed no rate."""


# CPU seconds so far by process ("app": the server or consumer measured; "kafka", "postgres"): read around a run.
CpuProbe = Callable[[], dict[str, float]]


@dataclass(frozen=True)
class WrkFigures:
    requests_per_s: float
    non_2xx: int
    socket_errors: int
    seconds: float
    cpu_s: dict[str, float]  # by process, while wrk ran

    @property
    def requests(self) -> int:
        return round(self.requests_per_s * self.seconds)


def parse_wrk(output: str) -> tuple[float, int, int]:
    """(requests/s, non-2xx answers, socket errors) from wrk's report."""
    rate = _RATE.search(output)
    if rate is None:
        raise FloorError(f"no 'Requests/sec' in wrk's output: {output[-500:]!r}")
    non_2xx = _NON_2XX.search(output)
    errors = _SOCKET_ERRORS.search(output)
    return (
        float(rate.group(1)),
        int(non_2xx.group(1)) if non_2xx else 0,
        sum(int(g) for g in errors.groups()) if errors else 0,
    )


def wrk_script(path: str, body: str, headers: dict[str, str]) -> str:
    """A wrk Lua script posting ``body`` (``@N@`` numbered per request) to ``path`` with ``headers``."""
    header_lua = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
    return _WRK_SCRIPT % {"body": body, "headers": header_lua, "path": path}


def run_wrk(
    url: str, script: str, *, seconds: float, connections: int, cpu: CpuProbe, timeout_s: float = 10
) -> WrkFigures:
    """wrk flat out (one thread, ``connections`` open) for ``seconds``; the processes' CPU read around it."""
    if shutil.which("wrk") is None:
        raise FloorError("wrk is missing: apt-get install wrk (Debian) provides it")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        script_path = f.name
    try:
        cpu_before = cpu()
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", f"--timeout={timeout_s:g}s", "-s", script_path,
                url]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 60)  # noqa: S603 - fixed argv
        cpu_after = cpu()
    finally:
        os.unlink(script_path)
    if result.returncode != 0:
        raise FloorError(f"wrk exited {result.returncode}: {result.stderr[-500:]}")
    rate, non_2xx, errors = parse_wrk(result.stdout)
    return WrkFigures(rate, non_2xx, errors, seconds, cpu_delta(cpu_before, cpu_after))


FLOOR_PROCESS = "floor"  # its pid and log in the stack's run and logs folders, as a service's


def start_floor_app(lay: stack.Layout, port: int) -> stack.ServiceSpec:
    """The bare HTTP → Kafka app under the services' uvicorn options, ready to take requests."""
    env = {**os.environ, "FLOOR_BOOTSTRAP": stack.kafka_bootstrap(lay), "FLOOR_TOPIC": HTTP_TOPIC}
    stack.start_app(lay, FLOOR_PROCESS, "bench.floor_app:app", port, env)
    spec = stack.ServiceSpec(FLOOR_PROCESS, port)
    stack.wait_service(lay, spec, timeout_s=30)
    return spec


@dataclass(frozen=True)
class HttpFloor:
    """A bare app and real ingest under the same wrk load, single posts and batches."""

    bare_single: WrkFigures
    bare_batch: WrkFigures
    ingest_single: WrkFigures
    ingest_batch: WrkFigures


def http_floor(
    lay: stack.Layout,
    *,
    ingest_port: int,
    ingest_pid: int | None,
    floor_port: int,
    services_cpu: CpuProbe,
    form: str,
    batch: str,
    headers: dict[str, str],
    seconds: float,
    connections: int,
    batch_connections: int,
) -> HttpFloor:
    """The bare app's rates, then real ingest's, under the same bodies and wrk settings.

    ``services_cpu``: Kafka's and PostgreSQL's CPU so far; each figure also holds its server's, as "app".
    """

    def drive(url: str, path: str, body: str, pid: int | None) -> WrkFigures:
        def cpu() -> dict[str, float]:
            return {**services_cpu(), "app": (cpu_seconds(pid) or 0.0) if pid else 0.0}

        script = wrk_script(path, body, headers)
        # a batch is a thousand events: a few in flight keep the server busy (ingest's MAX_IN_FLIGHT counts requests)
        open_connections = batch_connections if path.endswith("batch") else connections
        return run_wrk(url, script, seconds=seconds, connections=open_connections, cpu=cpu)

    app = start_floor_app(lay, floor_port)
    try:
        pid = pid_of(lay, app.process)
        bare_single, bare_batch = drive(app.url, "/single", form, pid), drive(app.url, "/batch", batch, pid)
    finally:
        stack.stop_service(lay, app)
    real = f"http://127.0.0.1:{ingest_port}"
    return HttpFloor(
        bare_single=bare_single,
        bare_batch=bare_batch,
        ingest_single=drive(real, "/v1/events/form", form, ingest_pid),
        ingest_batch=drive(real, "/v1/events/batch", batch, ingest_pid),
    )


# ---------------------------------------------------------------- consume → store → publish

# A scratch schema in the bench database, dropped afterwards.
_DDL = (
    "CREATE SCHEMA IF NOT EXISTS bench_floor",
    "CREATE TABLE IF NOT EXISTS bench_floor.events (event_id text PRIMARY KEY, lead_id text NOT NULL, "
    "payload jsonb NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_lead ON bench_floor.events (lead_id)",
    "CREATE TABLE IF NOT EXISTS bench_floor.leads (lead_id text PRIMARY KEY, events int NOT NULL, last jsonb NOT NULL)",
)
_INSERT = (
    "INSERT INTO bench_floor.events SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[]) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)
_HISTORY = "SELECT lead_id, payload::text FROM bench_floor.events WHERE lead_id = ANY($1::text[])"
_UPSERT = (
    "INSERT INTO bench_floor.leads SELECT l, 1, p FROM unnest($1::text[], $2::jsonb[]) AS t(l, p) "
    "ON CONFLICT (lead_id) DO UPDATE SET events = leads.events + 1, last = excluded.last"
)
_DROP = "DROP SCHEMA IF EXISTS bench_floor CASCADE"


@dataclass(frozen=True)
class ConsumerFloor:
    records: int
    seconds: float
    cpu_s: dict[str, float]  # by process while draining ("app": this one)

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL the stack hands its services, as asyncpg takes it."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _record(run: str, n: int, leads: int, size: int) -> tuple[bytes, bytes]:
    lead = f"ld_{run}_{n % leads:06d}"
    head = f'{{"event_id":"fl-{run}-{n}","lead_id":"{lead}","pad":"'
    return lead.encode(), (head + "x" * max(0, size - len(head) - 2) + '"}').encode()


async def consumer_floor(
    bootstrap: str,
    database_url: str,
    *,
    records: int,
    leads: int,
    record_size: int,
    services_cpu: CpuProbe,
    read_history: bool = False,
    max_records: int = 2000,
    timeout_s: float = 900,
) -> ConsumerFloor:
    """Fill a topic, then drain it doing only what every consumer must: store, publish, commit (see above)."""
    run = uuid.uuid4().hex[:8]
    topic_in, topic_out = f"leadflow.bench.floor-in.{run}", f"leadflow.bench.floor-out.{run}"
    for topic in (topic_in, topic_out):
        await ensure_topic(bootstrap, topic)
    producer = create_producer(bootstrap, client_id="leadflow-bench-floor")
    await producer.start()
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for ddl in _DDL:
            await conn.execute(ddl)
        await publish_stream(producer, ((topic_in, *_record(run, n, leads, record_size), ()) for n in range(records)))

        consumer = AIOKafkaConsumer(
            topic_in, bootstrap_servers=bootstrap, group_id=f"floor-{run}", enable_auto_commit=False,
            auto_offset_reset="earliest", isolation_level="read_committed", max_poll_records=max_records,
        )  # fmt: skip
        await consumer.start()
        try:
            done = 0

            def cpu() -> dict[str, float]:
                return {**services_cpu(), "app": time.process_time()}

            started, cpu_started = time.perf_counter(), cpu()
            async with asyncio.timeout(timeout_s):
                while done < records:
                    done += await _store_and_publish(
                        consumer, conn, producer, topic_out, read_history=read_history, max_records=max_records
                    )
            return ConsumerFloor(done, time.perf_counter() - started, cpu_delta(cpu_started, cpu()))
        finally:
            await consumer.stop()
    finally:
        await conn.execute(_DROP)
        await conn.close()
        await producer.stop()
        for topic in (topic_in, topic_out):
            await delete_topic(bootstrap, topic)


async def _store_and_publish(
    consumer: AIOKafkaConsumer,
    conn: asyncpg.Connection,
    producer: AIOKafkaProducer,
    topic_out: str,
    *,
    read_history: bool,
    max_records: int,
) -> int:
    """One fetch: stored in one transaction, a record per lead published, the offsets committed; how many."""
    batches = await consumer.getmany(timeout_ms=500, max_records=max_records)
    fetched = [r for part in batches.values() for r in part]
    if not fetched:
        return 0
    ids, lead_ids, payloads = [], [], []
    last: dict[str, str] = {}
    for r in fetched:
        text = r.value.decode()
        lead = r.key.decode()
        ids.append(f"{r.topic}/{r.partition}/{r.offset}")
        lead_ids.append(lead)
        payloads.append(text)
        last[lead] = text
    async with conn.transaction():
        await conn.fetch(_INSERT, ids, lead_ids, payloads)
        if read_history:
            await conn.fetch(_HISTORY, list(last))
        await conn.execute(_UPSERT, list(last), list(last.values()))
    # published as LeadFlow's consumers publish their outbox
    outgoing = [OutgoingMessage(f"{topic_out}/{lead}", topic_out, lead, value.encode()) for lead, value in last.items()]
    await publish_all(producer, outgoing)
    await consumer.commit()
    return len(fetched)
