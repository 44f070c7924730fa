"""Pure: records no consumer can ever process, one of each kind for each consumed topic.

Each carries a marker (run tag + topic + kind) in its raw bytes, so it can be found in the dead-letter
topic whichever consumer dead-letters it (an impossible value may pass scoring and fail further down).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from shared.events import (
    Channel,
    CloudEventType,
    DecisionKind,
    EventKind,
    LeadEvent,
    LeadScored,
    Person,
    Rank,
    RepRef,
    RoutingDecision,
    SlaKind,
    Stage,
    Temperature,
    Topics,
)
from shared.normalize import lead_id_for

CONSUMED_TOPICS = (Topics.EVENTS, Topics.SCORED, Topics.DECISIONS)
KINDS = ("invalid-json", "not-utf8", "unknown-type", "impossible-values")
# The last day of the calendar: schema-valid, but no SLA clock or decay can be computed past it.
END_OF_TIME = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
_TYPES = {
    Topics.EVENTS: CloudEventType.LEAD_EVENT,
    Topics.SCORED: CloudEventType.LEAD_SCORED,
    Topics.DECISIONS: CloudEventType.ROUTING_DECISION,
}


@dataclass(frozen=True)
class PoisonRecord:
    """One record to write straight into a topic, and the marker that finds it again."""

    topic: str
    kind: str
    marker: str
    key: bytes
    value: bytes


def poison_records(run: str, now: datetime, kinds: tuple[str, ...] = KINDS) -> list[PoisonRecord]:
    """Each kind of poison asked for, for every consumed topic."""
    return [_record(run, topic, kind, now) for topic in CONSUMED_TOPICS for kind in kinds]


def _record(run: str, topic: str, kind: str, now: datetime) -> PoisonRecord:
    marker = f"chaos-poison-{run}-{topic.split('.')[1]}-{kind}"
    lead_id = lead_id_for(f"{marker}@poison.example.com")
    if kind == "invalid-json":
        value = b'{"specversion": "1.0", "id": "' + marker.encode() + b'", "data": {"lead_id": '
    elif kind == "not-utf8":
        value = marker.encode() + b" \xff\xfe\xfa not text"
    elif kind == "unknown-type":
        value = _cloud(topic, marker, lead_id, now, occurred_at=now, type_="io.leadflow.teleported.v1")
    else:
        # Built with real times (the contract models refuse the year 9999), then every time moved to the end of
        # the calendar in the bytes: well-formed JSON of the right type, with values no consumer may accept.
        value = orjson.dumps(
            _at_end_of_time(orjson.loads(_cloud(topic, marker, lead_id, now, occurred_at=now, type_=_TYPES[topic])))
        )
    return PoisonRecord(topic, kind, marker, lead_id.encode(), value)


_TIME_FIELDS = frozenset({"time", "occurred_at", "received_at", "scored_at", "sla_due_at", "decided_at"})


def _at_end_of_time(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: END_OF_TIME.isoformat() if k in _TIME_FIELDS else _at_end_of_time(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_at_end_of_time(v) for v in node]
    return node


def _cloud(topic: str, marker: str, lead_id: str, now: datetime, *, occurred_at: datetime, type_: str) -> bytes:
    event = LeadEvent(
        event_id=marker,
        lead_id=lead_id,
        channel=Channel.WEB_FORM,
        kind=EventKind.DEMO_REQUEST,
        occurred_at=occurred_at,
        received_at=now,
        source="chaos:poison",
        person=Person(email=f"{marker}@poison.example.com", email_domain="poison.example.com", name=marker),
    )
    data: LeadEvent | LeadScored | RoutingDecision = event
    if topic != Topics.EVENTS:
        data = LeadScored(
            lead_id=lead_id, person=event.person, fit=0, intent=40, total=40, rank=Rank.A,
            temperature=Temperature.HOT, stage=Stage.LEAD, previous_stage=Stage.LEAD, reasons=[],
            trigger=event, new_events=[event], model_version="chaos", scored_at=occurred_at,
        )  # fmt: skip
    if topic == Topics.DECISIONS:
        rep = RepRef(rep_id="rep-chaos", name="Chaos Rep", email="rep@poison.example.com", slack_id="U0CHAOS01")
        data = RoutingDecision(
            decision_id=marker, lead_id=lead_id, kind=DecisionKind.ASSIGNED, owner=rep, team="chaos",
            rule="chaos", reason=marker, sla_kind=SlaKind.RANK_A, sla_due_at=occurred_at + timedelta(hours=1),
            lead=data, decided_at=occurred_at,
        )  # fmt: skip
    envelope = {
        "specversion": "1.0",
        "id": marker,
        "source": "/leadflow/chaos",
        "type": type_,
        "subject": lead_id,
        "time": occurred_at.isoformat(),
        "datacontenttype": "application/json",
        "data": data.model_dump(mode="json", exclude_none=True),
    }
    return orjson.dumps(envelope)
