"""Lead-to-alert latency: from the scheduled HTTP request of a rank-A event to the Slack stand-in receiving the
rep's message about that lead (the stand-in stamps ``received_at`` when it accepts a message).

Each rank-A event in the mix is a lead never seen before, so exactly one alert is owed for it and the first
message naming its lead id is that alert. Everything else in the mix is background load on other leads.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from bench.stats import Latencies, latencies

_LEAD_ID = re.compile(rb"ld_[0-9a-f]{24}")


def first_alert_times(messages: Iterable[dict[str, Any]]) -> dict[str, float]:
    """The earliest ``received_at`` of a Slack message naming each lead id (found in its text or blocks)."""
    first: dict[str, float] = {}
    for message in messages:
        received = message.get("received_at")
        if not isinstance(received, int | float):
            continue
        content = orjson.dumps([message.get("text"), message.get("blocks")])
        for lead_id in {m.decode() for m in _LEAD_ID.findall(content)}:
            if lead_id not in first or received < first[lead_id]:
                first[lead_id] = received
    return first


@dataclass(frozen=True)
class AlertFigures:
    """Latency of delivered alerts and the share delivered."""

    owed: int
    delivered: int
    rejected_requests: int
    latency: Latencies | None

    @property
    def delivered_share(self) -> float | None:
        return self.delivered / self.owed if self.owed else None

    def as_dict(self) -> dict[str, object]:
        return {
            "owed": self.owed,
            "delivered": self.delivered,
            "delivered_share": self.delivered_share,
            "rejected_requests": self.rejected_requests,
            "latency_ms": self.latency.as_dict() if self.latency else None,
        }


def alert_figures(rank_a: Sequence[tuple[str, float, int]], alerts: dict[str, float]) -> AlertFigures:
    """Match each accepted rank-A post (lead id, scheduled wall time, status) to its first alert."""
    accepted = [(lead, sent) for lead, sent, status in rank_a if 200 <= status < 300]
    delays = [(alerts[lead] - sent) * 1000 for lead, sent in accepted if lead in alerts]
    return AlertFigures(
        owed=len(accepted),
        delivered=len(delays),
        rejected_requests=len(rank_a) - len(accepted),
        latency=latencies(delays),
    )


def clear_slack(standin_url: str) -> None:
    """Forget every message the stand-in holds, so a run matches only its own alerts."""
    httpx.delete(f"{standin_url}/_standin/slack/messages", timeout=30).raise_for_status()
    httpx.delete(f"{standin_url}/_standin/mail/messages", timeout=30).raise_for_status()


def slack_messages(standin_url: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{standin_url}/_standin/slack/messages", timeout=120)
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def collect_alerts(
    standin_url: str, owed: set[str], *, settle_timeout_s: float, poll_s: float = 2.0
) -> dict[str, float]:
    """Poll the stand-in until every owed alert arrived or ``settle_timeout_s`` passed without a new one."""
    seen = -1
    last_progress = time.monotonic()
    while True:
        found = {k: v for k, v in first_alert_times(slack_messages(standin_url)).items() if k in owed}
        if len(found) == len(owed):
            return found
        if len(found) > seen:
            seen, last_progress = len(found), time.monotonic()
        elif time.monotonic() - last_progress > settle_timeout_s:
            return found
        time.sleep(poll_s)
