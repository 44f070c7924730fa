"""Scoring leads again without a new event: after a model reload (rescore) and as time passes (decay).

Both walk the ``leads`` table in keyset pages of ``batch_size``; each page is one transaction with a constant
number of statements (lock the page, load its events a chunk of leads at a time, upsert, stage history, outbox,
job counts). A lead whose rank, temperature or stage changed is published as a LeadScored with
``new_events == []`` and the lead's latest event as ``trigger``: consumers tell "time or the model moved this
lead" from "the person acted".
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring import metrics, repository
from services.scoring.consumer import HISTORY_CHUNK, lead_row, scored_message
from services.scoring.lead_update import Cause, Reevaluation, StoredState, reevaluate_lead, reevaluated_id
from services.scoring.model import ScoringModel, load_scoring_model
from shared.db import unit_of_work
from shared.events import Rank, Stage, Temperature
from shared.kafka import OutgoingMessage, is_transient
from shared.logging import log_fields
from shared.outbox import Outbox

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ModelHolder:
    """The model in use. Swapped whole on reload, so every batch scores with one consistent model."""

    def __init__(self, path: Path, model: ScoringModel) -> None:
        self.path = path
        self.model = model

    def __call__(self) -> ScoringModel:
        return self.model

    def reload(self) -> tuple[ScoringModel, ScoringModel]:
        """Load the file again; returns (previous, current). A broken file raises ConfigError, keeping the old."""
        previous, current = self.model, load_scoring_model(self.path)
        self.model = current
        return previous, current


def count(evaluations: Sequence[Reevaluation], published: int) -> dict[str, int]:
    """One page's contribution to a job's report."""
    return {
        "scanned": len(evaluations),
        "changed_rank": sum(e.rank_changed for e in evaluations),
        "changed_stage": sum(e.stage_changed for e in evaluations),
        "changed_rank_or_stage": sum(e.rank_changed or e.stage_changed for e in evaluations),
        "changed_temperature": sum(e.temperature_changed for e in evaluations),
        "went_down": sum(e.went_down for e in evaluations),
        "published": published,
    }


class Reevaluator:
    """Scores pages of stored leads again under one model and clock; publishes what crossed a threshold."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        *,
        batch_size: int,
        max_passes: int,
        clock: Clock = _utcnow,
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.batch_size = batch_size
        self.max_passes = max_passes
        self.clock = clock

    async def run(
        self, job_id: str, cause: Cause, model: ScoringModel, only: Sequence[str] | None = None
    ) -> dict[str, int]:
        """Walk every lead the cause concerns; returns the job's totals."""
        totals: Counter[str] = Counter()
        for _ in range(self.max_passes):
            after = ""
            while True:
                last, counts = await self._page(job_id, cause, model, after, only)
                totals.update(counts)
                if last is None:
                    break
                after = last
            # a consumer batch that began under the old model may commit after the walk passed its lead:
            # walk again for what is still stale (a decay pass needs only one walk)
            if cause is Cause.DECAY or not await self._stale(model, only):
                break
        return dict(totals)

    async def _stale(self, model: ScoringModel, only: Sequence[str] | None) -> bool:
        async with self.sessions() as session:
            return await repository.count_stale(session, model.version, only) > 0

    async def _page(
        self, job_id: str, cause: Cause, model: ScoringModel, after: str, only: Sequence[str] | None
    ) -> tuple[str | None, dict[str, int]]:
        now = self.clock()
        async with unit_of_work(self.sessions) as session:
            stale_for = model.version if cause is Cause.MODEL else None
            page = await repository.lock_page(
                session, after=after, limit=self.batch_size, stale_for=stale_for, only=only
            )
            if not page:
                return None, {}
            evaluated: list[tuple[StoredState, Reevaluation]] = []
            # histories a chunk of leads at a time, as the consumer reads them (HISTORY_CHUNK)
            for start in range(0, len(page), HISTORY_CHUNK):
                chunk = page[start : start + HISTORY_CHUNK]
                history = await repository.events_of(session, [row.lead_id for row in chunk])
                for row in chunk:
                    events = history.get(row.lead_id)
                    if not events:
                        continue  # a lead row is only written with its events; nothing to score without them
                    stored = StoredState(Stage(row.stage), Rank(row.rank), Temperature(row.temperature))
                    evaluated.append((stored, reevaluate_lead(all_events=events, stored=stored, model=model, now=now)))
                del history
            await repository.upsert_leads(
                session,
                [lead_row(e.update.scored, e.update.scored.trigger.occurred_at) for _, e in evaluated],
            )
            await repository.add_stage_history(
                session,
                [
                    {"lead_id": e.update.scored.lead_id, "from_stage": s.from_stage.value,
                     "to_stage": s.to_stage.value, "event_id": None, "at": now}
                    for _, e in evaluated
                    for s in e.update.steps
                ],
            )  # fmt: skip
            messages = [
                scored_message(e.update.scored, reevaluated_id(cause, stored, e.update.scored), None)
                for stored, e in evaluated
                if e.crossed
            ]
            await self.outbox.add(session, messages)
            counts = count([e for _, e in evaluated], len(messages))
            await repository.add_to_job(session, job_id, counts)
        await self._publish(messages)
        for _, e in evaluated:
            metrics.REEVALUATED.labels(cause.value, "crossed" if e.crossed else "unchanged").inc()
            for step in e.update.steps:
                metrics.STAGE_TRANSITIONS.labels(step.from_stage.value, step.to_stage.value).inc()
        return page[-1].lead_id, counts

    async def _publish(self, messages: list[OutgoingMessage]) -> None:
        try:
            await self.outbox.flush(messages)
        except Exception as exc:
            if not is_transient(exc):
                raise
            # committed in the outbox already: the relay publishes them when Kafka is back
            log.warning("publish deferred to the outbox relay", extra=log_fields(count=len(messages)))


@dataclass(frozen=True)
class Started:
    """A job that was started: its id and the model it runs under."""

    job_id: str
    model_version: str


class JobRunner:
    """Starts rescoring and re-evaluation jobs in the background and records their progress.

    One rescore runs at a time: a newer reload supersedes the running one, whose work is not lost (the leads
    it rescored are simply stale again for the new version and picked up by the new job).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        reevaluator: Reevaluator,
        model: Callable[[], ScoringModel],
        clock: Clock = _utcnow,
    ) -> None:
        self.sessions = sessions
        self.reevaluator = reevaluator
        self.model = model
        self.clock = clock
        self._tasks: dict[str, tuple[Cause, asyncio.Task[None]]] = {}

    async def start(self, cause: Cause, only: Sequence[str] | None = None) -> Started:
        """Record a job and run it in the background; returns at once."""
        model = self.model()
        job_id = await self._create(cause, model)
        if cause is Cause.MODEL:
            for running_id, (running_cause, task) in list(self._tasks.items()):
                if running_cause is Cause.MODEL and running_id != job_id:
                    task.cancel("superseded")
        task = asyncio.create_task(self._run(job_id, cause, model, only), name=f"scoring-job-{cause.value}")
        self._tasks[job_id] = (cause, task)
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))
        return Started(job_id, model.version)

    async def run(self, cause: Cause, only: Sequence[str] | None = None) -> str:
        """Run a job to its end in the caller's task; returns its id."""
        model = self.model()
        job_id = await self._create(cause, model)
        await self._run(job_id, cause, model, only)
        return job_id

    async def close(self) -> None:
        """Stop running jobs (they are recorded as interrupted)."""
        tasks = [task for _, task in self._tasks.values()]
        for task in tasks:
            task.cancel("shutdown")
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _create(self, cause: Cause, model: ScoringModel) -> str:
        job_id = f"job_{uuid.uuid4().hex[:20]}"
        async with unit_of_work(self.sessions) as session:
            await repository.create_job(session, job_id, cause.value, model.version, self.clock())
        return job_id

    async def _run(self, job_id: str, cause: Cause, model: ScoringModel, only: Sequence[str] | None) -> None:
        fields = log_fields(job_id=job_id, cause=cause.value, model_version=model.version)
        log.info("scoring job started", extra=fields)
        try:
            totals = await self.reevaluator.run(job_id, cause, model, only)
        except asyncio.CancelledError as cancelled:
            why = str(cancelled.args[0]) if cancelled.args else "cancelled"
            await self._finish(job_id, "superseded" if why == "superseded" else "interrupted", why)
            raise
        except Exception as exc:
            log.exception("scoring job failed", extra=fields)
            await self._finish(job_id, "failed", f"{type(exc).__name__}: {str(exc)[:500]}")
            return
        await self._finish(job_id, "done", None)
        log.info("scoring job done", extra=log_fields(job_id=job_id, cause=cause.value, **totals))

    async def _finish(self, job_id: str, state: str, error: str | None) -> None:
        try:
            async with unit_of_work(self.sessions) as session:
                await repository.finish_job(session, job_id, state, self.clock(), error)
        except Exception:
            # the job's counts are already committed page by page; only its final state is missing
            log.warning("could not record the job's end", extra=log_fields(job_id=job_id, state=state))


async def reevaluate_forever(runner: JobRunner, *, first_delay_s: float, interval_s: float) -> None:
    """Background task: a decay re-evaluation every ``interval_s`` (the first after ``first_delay_s``)."""
    await asyncio.sleep(first_delay_s)
    while True:
        try:
            await runner.run(Cause.DECAY)
        except Exception as exc:
            if not is_transient(exc):
                log.exception("decay re-evaluation failed")
            else:
                log.warning(
                    "decay re-evaluation skipped: infrastructure away", extra=log_fields(error=type(exc).__name__)
                )
        await asyncio.sleep(interval_s)
