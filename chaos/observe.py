"""Reading the stack's state back: scores, routing decisions, alerts at the stand-ins, the dead-letter topic."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import create_async_engine

from chaos.plan import LeadPlan, name_pattern
from shared.events import Topics

_CONCURRENCY = 16
_APPLIED = re.compile(r'^leadflow_consumer_records_total\{[^}]*outcome="applied"[^}]*\}\s+([0-9.e+]+)$', re.M)


@dataclass(frozen=True)
class DeadLetterSeen:
    """One dead-lettered record: where it came from, who gave up on it, and why."""

    topic: str
    consumer: str
    error: str
    raw: str


async def slack_counts(http: httpx.AsyncClient, standins: str, run: str) -> Counter[int]:
    """Slack messages posted per lead of the run (found by name; an edit of a message is not a new message)."""
    response = await http.get(f"{standins}/_standin/slack/messages")
    response.raise_for_status()
    texts = [m.get("text") or "" for m in response.json()["messages"] if m.get("method") == "chat.postMessage"]
    return _count_named(texts, run)


@dataclass(frozen=True)
class EmailSeen:
    """Emails per lead as the rep's mailbox shows them, and the SMTP transmissions beyond that."""

    per_lead: Counter[int]  # seq → distinct messages (by Message-ID) naming the lead
    retransmissions: int  # copies of a Message-ID the server had already received


async def email_counts(http: httpx.AsyncClient, standins: str, run: str) -> EmailSeen:
    """Emails received per lead of the run (found by name in the subject), counted by Message-ID.

    SMTP cannot be asked what a server already took, so a notifier killed between the server's reply to DATA
    and its own "sent" mark sends that email again after the restart, under the same Message-ID, which mail
    clients show once. Those copies are counted apart (``retransmissions``), not as a second email: two
    *different* messages about one lead still count as doubled.
    """
    response = await http.get(f"{standins}/_standin/mail/messages")
    response.raise_for_status()
    return count_emails(response.json()["messages"], run)


def count_emails(messages: Iterable[dict[str, Any]], run: str) -> EmailSeen:
    """Pure: the sink's messages counted per lead of the run by Message-ID, and the copies beyond that."""
    distinct: dict[str, str] = {}
    copies = 0
    for m in messages:
        message_id = m.get("message_id") or f"no-id-{len(distinct)}-{copies}"
        if message_id in distinct:
            copies += 1
        else:
            distinct[message_id] = m.get("subject") or ""
    return EmailSeen(_count_named(distinct.values(), run), copies)


def _count_named(texts: Iterable[str], run: str) -> Counter[int]:
    pattern = name_pattern(run)
    counts: Counter[int] = Counter()
    for text in texts:
        for seq in {int(s) for s in pattern.findall(text)}:
            counts[seq] += 1
    return counts


async def scored_counts(http: httpx.AsyncClient, scoring: str, plans: dict[str, str]) -> dict[str, int]:
    """lead id → times its event (by id) counts in its score: 0 when the lead is unknown to scoring."""
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(lead_id: str, event_id: str) -> tuple[str, int]:
        async with gate:
            response = await http.get(f"{scoring}/v1/leads/{lead_id}/score")
        if response.status_code == 404:
            return lead_id, 0
        response.raise_for_status()
        uses = sum(1 for r in response.json()["reasons"] if r.get("event_id") == event_id)
        # A newsletter signup may earn no points, so no reason names it: being scored at all is the count.
        return lead_id, max(uses, 1)

    return dict(await asyncio.gather(*(one(lid, eid) for lid, eid in plans.items())))


async def decision_counts(database_url: str, lead_ids: list[str]) -> dict[str, int]:
    """lead id → routing decisions the router recorded for it (read-only, straight from its schema)."""
    engine = create_async_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT lead_id, count(*) FROM router.decisions WHERE lead_id = ANY(:ids) GROUP BY lead_id"),
                {"ids": lead_ids},
            )
            return {str(lead_id): int(n) for lead_id, n in rows}
    finally:
        await engine.dispose()


async def dead_letters(bootstrap: str, needle: str) -> list[DeadLetterSeen]:
    """Every dead-lettered record whose raw value contains ``needle``, read from the start of the topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([Topics.DEAD_LETTER])
    finally:
        await admin.close()
    partitions = [TopicPartition(Topics.DEAD_LETTER, p["partition"]) for p in described[0]["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[DeadLetterSeen] = []
        while await _behind(consumer, ends):
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    letter = orjson.loads(record.value or b"{}").get("data") or {}
                    if needle in letter.get("raw", ""):
                        found.append(
                            DeadLetterSeen(letter["topic"], letter["consumer"], letter["error"], letter["raw"])
                        )
        return found
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    return any([await consumer.position(tp) < end for tp, end in ends.items()])


async def consumer_busy(http: httpx.AsyncClient, url: str, within_s: float, interval_s: float = 0.1) -> bool:
    """Wait until a service's consumer is applying records (its applied counter moves); False if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    before = await _applied(http, url)
    while loop.time() < deadline:
        await asyncio.sleep(interval_s)
        now = await _applied(http, url)
        if now > before:
            return True
    return False


async def _applied(http: httpx.AsyncClient, url: str) -> float:
    try:
        text = (await http.get(f"{url}/metrics", timeout=2)).text
    except httpx.HTTPError:
        return 0.0
    return sum(float(v) for v in _APPLIED.findall(text))


def accepted_events(plans: Iterable[LeadPlan], accepted: dict[int, str]) -> dict[str, str]:
    """lead id → the event id ingest accepted for it."""
    return {p.lead_id: accepted[p.seq] for p in plans if p.seq in accepted}
