"""The fault scenarios: each injects one fault under load and returns once the fault is healed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaProducer

from chaos.load import LoadGenerator
from chaos.observe import consumer_busy
from chaos.poison import PoisonRecord, poison_records
from chaos.settings import ChaosSettings
from chaos.smtp_gate import SmtpGate
from leadflow import stack

CONSUMER_SERVICES = ("scoring", "router", "notifier")


@dataclass
class FaultContext:
    """What a scenario may touch: the stack's processes, the stand-ins' fault queue, the SMTP gate."""

    lay: stack.Layout
    settings: ChaosSettings
    http: httpx.AsyncClient
    load: LoadGenerator
    gate: SmtpGate | None = None
    poison_written: list[PoisonRecord] = field(default_factory=list)

    def service_env(self, name: str) -> dict[str, str]:
        """Per-service overrides that must survive every restart (the notifier's SMTP goes through the gate)."""
        if name == "notifier" and self.gate is not None:
            return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.gate.port)}
        return {}

    async def restart(self, spec: stack.ServiceSpec) -> None:
        """Start a service process (with its overrides) and wait until it answers /readyz."""
        await asyncio.to_thread(stack.start_service, self.lay, spec, self.service_env(spec.name))
        await asyncio.to_thread(stack.wait_service, self.lay, spec)


Scenario = Callable[[FaultContext], Awaitable[str]]


def kill(service: str) -> Scenario:
    """kill -9 of one service while its consumer is applying a batch, restarted after a few seconds."""

    async def scenario(ctx: FaultContext) -> str:
        spec = ctx.lay.service(service)
        busy = True
        if service in CONSUMER_SERVICES:
            busy = await consumer_busy(ctx.http, spec.url, ctx.settings.mid_batch_wait_s)
        await asyncio.to_thread(stack.stop_service, ctx.lay, spec, kill=True)
        await asyncio.sleep(ctx.settings.kill_down_s)
        await ctx.restart(spec)
        return "killed mid-batch" if busy else "killed (no batch seen in flight)"

    return scenario


async def kafka_restart(ctx: FaultContext) -> str:
    """The broker stopped, kept down, and started again: ingest answers 503, consumers wait and resume."""
    await asyncio.to_thread(stack.stop_process, ctx.lay, "kafka", 30.0)
    await asyncio.sleep(ctx.settings.kafka_down_s)
    await asyncio.to_thread(stack.start_kafka, ctx.lay)
    return f"broker down {ctx.settings.kafka_down_s:.0f}s"


async def postgres_restart(ctx: FaultContext) -> str:
    """The database stopped and started again: consumers retry their batch, never skip it."""
    await asyncio.to_thread(stack.stop_postgres, ctx.lay)
    await asyncio.sleep(ctx.settings.postgres_down_s)
    await asyncio.to_thread(stack.start_postgres, ctx.lay)
    return f"database down {ctx.settings.postgres_down_s:.0f}s"


def slack_fault(mode: str) -> Scenario:
    """Slack answers 429 with Retry-After, or 500s, or hangs past the notifier's timeout, for a few calls."""

    async def scenario(ctx: FaultContext) -> str:
        s = ctx.settings
        spec: dict[str, object] = {
            "429": {"mode": "429", "retry_after": s.slack_429_retry_after_s, "count": s.slack_429_count},
            "500": {"mode": "500", "count": s.slack_500_count},
            "hang": {"mode": "hang", "seconds": s.slack_hang_s, "count": s.slack_hang_count},
        }[mode]
        faults = f"{ctx.lay.standin_url}/_standin/faults"
        (await ctx.http.post(faults, json=spec)).raise_for_status()
        # Healed when the notifier has used up the queued faults (the load keeps it calling Slack).
        deadline = time.monotonic() + s.recovery_timeout_s
        while time.monotonic() < deadline:
            if not (await ctx.http.get(faults)).json()["faults"]:
                break
            await asyncio.sleep(s.poll_interval_s)
        return f"{spec}"

    return scenario


async def smtp_down(ctx: FaultContext) -> str:
    """The mail server refuses connections for a minute while Slack keeps working."""
    if ctx.gate is None:
        return "skipped: no SMTP gate"
    await ctx.gate.close()
    await asyncio.sleep(ctx.settings.smtp_down_s)
    await ctx.gate.open()
    return f"SMTP down {ctx.settings.smtp_down_s:.0f}s"


async def rebalance(ctx: FaultContext) -> str:
    """A second member joins each consumer group; the first is killed while the group rebalances."""

    async def one(service: str) -> None:
        first, second = ctx.lay.service(service), ctx.lay.service(service, instance=2)
        await asyncio.to_thread(stack.start_service, ctx.lay, second, ctx.service_env(service))
        await asyncio.sleep(ctx.settings.rebalance_kill_after_s)
        await asyncio.to_thread(stack.stop_service, ctx.lay, first, kill=True)
        await asyncio.to_thread(stack.wait_service, ctx.lay, second)
        await ctx.restart(first)
        await asyncio.to_thread(stack.stop_service, ctx.lay, second)

    await asyncio.gather(*(one(s) for s in CONSUMER_SERVICES))
    return "2 members per group, one killed mid-rebalance"


async def poison(ctx: FaultContext) -> str:
    """Records no consumer can process, written straight into every consumed topic."""
    records = poison_records(ctx.load.run, datetime.now(UTC), ctx.settings.poison_kinds)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap(ctx.lay), acks="all")
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(record.topic, record.value, key=record.key)
    finally:
        await producer.stop()
    ctx.poison_written.extend(records)
    return f"{len(records)} records written"


SCENARIOS: dict[str, Scenario] = {
    "kill-ingest": kill("ingest"),
    "kill-scoring": kill("scoring"),
    "kill-router": kill("router"),
    "kill-notifier": kill("notifier"),
    "kafka-restart": kafka_restart,
    "postgres-restart": postgres_restart,
    "slack-429": slack_fault("429"),
    "slack-500": slack_fault("500"),
    "slack-hang": slack_fault("hang"),
    "smtp-down": smtp_down,
    "rebalance": rebalance,
    "poison": poison,
}
