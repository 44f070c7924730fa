"""One chaos run: bring the stack up, keep a load flowing, inject each fault in turn, then count everything."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from chaos import observe
from chaos.faults import SCENARIOS, FaultContext
from chaos.load import LoadGenerator
from chaos.plan import LeadPlan, Outcome
from chaos.report import ChaosReport, FaultResult, PoisonResult, format_text
from chaos.settings import ChaosSettings
from chaos.smtp_gate import SmtpGate
from chaos.tally import Observed, tally
from leadflow import stack


class UnknownScenario(ValueError):
    """A scenario name that is not in chaos.faults.SCENARIOS."""


@dataclass(frozen=True)
class Endpoints:
    ingest: str
    scoring: str
    standins: str
    kafka: str
    database_url: str

    @classmethod
    def of(cls, lay: stack.Layout) -> Endpoints:
        return cls(
            lay.service("ingest").url, lay.service("scoring").url, lay.standin_url,
            stack.kafka_bootstrap(lay), stack.database_url(lay),
        )  # fmt: skip


def api_key_for(lay: stack.Layout) -> str | None:
    """The first ingest API key the stack's services run with, if any."""
    keys = os.environ.get("INGEST_API_KEYS") or dict(lay.env).get("INGEST_API_KEYS", "")
    return next((k for k in keys.split(",") if k), None)


async def run_chaos(lay: stack.Layout, settings: ChaosSettings, *, say: bool = True) -> ChaosReport:
    """Run every selected scenario under load on ``lay`` (already up) and return the counted report."""
    unknown = [s for s in settings.scenarios if s not in SCENARIOS]
    if unknown:
        raise UnknownScenario(f"unknown scenario(s) {unknown}; choose from {sorted(SCENARIOS)}")
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    urls = Endpoints.of(lay)
    async with httpx.AsyncClient(timeout=settings.client_timeout_s) as http:
        load = LoadGenerator(http, urls.ingest, run, settings, api_key=api_key_for(lay))
        ctx = FaultContext(lay, settings, http, load)
        if "smtp-down" in settings.scenarios:
            await _route_smtp_through_gate(ctx)
        stop = asyncio.Event()
        flowing = asyncio.create_task(load.run_until(stop))
        faults: list[FaultResult] = []
        try:
            await asyncio.sleep(settings.warmup_s)
            for name in settings.scenarios:
                _say(say, f"fault: {name}")
                faults.append(await _one_fault(ctx, name))
                _say(say, f"  {faults[-1].note}; recovered in {faults[-1].recovered_s}s")
                await asyncio.sleep(settings.between_faults_s)
        finally:
            stop.set()
            await flowing
        _say(say, f"load stopped: {len(load.plans)} leads sent; waiting for the pipeline to settle")
        seen = await _settle(http, urls, load, settings)
        poison = await _poison_results(urls, ctx)
        if ctx.gate is not None:
            await _restore_notifier(ctx)
    return ChaosReport(
        run=run,
        layout=lay.name,
        duration_s=time.monotonic() - started,
        stages=tally(load.plans, seen),
        faults=faults,
        poison=poison,
        email_retransmissions=seen.email_retransmissions,
        load={
            "sent": len(load.plans),
            "accepted": len(load.accepted),
            "refused": len(load.refused),
            "alerted_expected": sum(1 for p in load.plans if p.outcome is Outcome.ALERTED and p.seq in load.accepted),
            "statuses": dict(sorted(load.statuses.items())),
        },
    )


def write_report(report: ChaosReport, path: Path) -> None:
    """The JSON next to the printed table, for CI to keep."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2))


def print_report(report: ChaosReport) -> None:
    print(format_text(report), flush=True)


async def _one_fault(ctx: FaultContext, name: str) -> FaultResult:
    began = time.monotonic()
    note = await SCENARIOS[name](ctx)
    healed = time.monotonic()
    plan = await ctx.load.post_canary(name)
    recovered = await _canary_alerted(ctx, plan, healed)
    return FaultResult(name, fault_s=round(healed - began, 1), recovered_s=recovered, note=note)


async def _canary_alerted(ctx: FaultContext, plan: LeadPlan, healed: float) -> float | None:
    if plan.seq not in ctx.load.accepted:
        return None
    deadline = healed + ctx.settings.recovery_timeout_s
    while time.monotonic() < deadline:
        counts = await observe.slack_counts(ctx.http, ctx.lay.standin_url, ctx.load.run)
        if counts.get(plan.seq):
            return round(time.monotonic() - healed, 1)
        await asyncio.sleep(ctx.settings.poll_interval_s)
    return None


async def _settle(http: httpx.AsyncClient, urls: Endpoints, load: LoadGenerator, settings: ChaosSettings) -> Observed:
    """Poll until every expected alert arrived (or the patience ran out), then look once more for late doubles."""
    alerted = {p.seq for p in load.plans if p.outcome is Outcome.ALERTED and p.seq in load.accepted}
    deadline = time.monotonic() + settings.settle_timeout_s
    while time.monotonic() < deadline:
        slack = await observe.slack_counts(http, urls.standins, load.run)
        email = (await observe.email_counts(http, urls.standins, load.run)).per_lead
        if all(slack.get(s) for s in alerted) and all(email.get(s) for s in alerted):
            break
        await asyncio.sleep(settings.poll_interval_s)
    # A delivery retried after a timeout lands late: give it the length of one Slack hang to show up.
    await asyncio.sleep(min(settings.slack_hang_s, settings.settle_timeout_s))
    events = observe.accepted_events(load.plans, load.accepted)
    emails = await observe.email_counts(http, urls.standins, load.run)
    return Observed(
        accepted=dict(load.accepted),
        scored=await observe.scored_counts(http, urls.scoring, events),
        decisions=await observe.decision_counts(urls.database_url, list(events)),
        slack=await observe.slack_counts(http, urls.standins, load.run),
        email=emails.per_lead,
        refused=frozenset(load.refused),
        resend_mismatches=load.resend_mismatches,
        email_retransmissions=emails.retransmissions,
    )


async def _poison_results(urls: Endpoints, ctx: FaultContext) -> list[PoisonResult]:
    if not ctx.poison_written:
        return []
    letters = await observe.dead_letters(urls.kafka, f"chaos-poison-{ctx.load.run}-")
    results = []
    for record in ctx.poison_written:
        letter = next((d for d in letters if record.marker in d.raw), None)
        results.append(
            PoisonResult(
                record.topic, record.kind, record.marker, dead_lettered=letter is not None,
                consumer=letter.consumer if letter else None, error=letter.error if letter else None,
            )
        )  # fmt: skip
    return results


async def _route_smtp_through_gate(ctx: FaultContext) -> None:
    # The SMTP sink shares its process with the Slack stand-in; a gate of our own takes SMTP down alone.
    ctx.gate = SmtpGate("127.0.0.1", ctx.lay.standin_smtp_port)
    await ctx.gate.open()
    spec = ctx.lay.service("notifier")
    await asyncio.to_thread(stack.stop_service, ctx.lay, spec)
    await ctx.restart(spec)


async def _restore_notifier(ctx: FaultContext) -> None:
    # Leave the stack as it was found: the notifier talking to the sink directly.
    spec = ctx.lay.service("notifier")
    gate, ctx.gate = ctx.gate, None
    await asyncio.to_thread(stack.stop_service, ctx.lay, spec)
    await ctx.restart(spec)
    if gate is not None:
        await gate.close()


def _say(enabled: bool, message: str) -> None:
    if enabled:
        stack.say(message)
