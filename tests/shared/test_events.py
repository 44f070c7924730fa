"""The Kafka contract: CloudEvents that round-trip, and signatures that verify."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from shared.events import Bant, Channel, CloudEvent, EventKind, LeadEvent, RoutingDecision, decode
from shared.kafka import is_transient
from shared.signatures import leadflow_signature, signed_headers

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def _event() -> LeadEvent:
    return LeadEvent(
        event_id="ev_1",
        lead_id="ld_" + "0" * 24,
        channel=Channel.WEB_FORM,
        kind=EventKind.DEMO_REQUEST,
        occurred_at=NOW,
        received_at=NOW,
        source="api:web_form",
    )


def test_a_cloud_event_round_trips_through_its_bytes() -> None:
    cloud = CloudEvent[LeadEvent](id="ev_1", source="/t", type="t", time=NOW, data=_event())
    assert decode(cloud.to_bytes(), LeadEvent) == cloud


def test_decoding_a_payload_of_the_wrong_shape_raises_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        decode(
            b'{"specversion": "1.0", "id": "x", "source": "s", "type": "t", "time": "2026-01-01T00:00:00Z"}', LeadEvent
        )


def test_confirmed_bant_facts_stay_confirmed_when_merged() -> None:
    merged = Bant(budget=True).merged(Bant(need=True, timeline=True, authority=True))
    assert merged.complete


def test_the_leadflow_signature_matches_a_known_vector() -> None:
    # printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
    assert leadflow_signature("secret", "1700000000", b"{}") == (
        "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
    )


def test_signed_headers_carry_the_timestamp_they_signed() -> None:
    headers = signed_headers("secret", 1700000000, b"{}")
    assert headers["X-LeadFlow-Timestamp"] == "1700000000"
    assert headers["X-LeadFlow-Signature"] == leadflow_signature("secret", "1700000000", b"{}")


class _DriverError(Exception):
    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def test_a_deadlock_is_retried_not_dead_lettered() -> None:
    assert is_transient(DBAPIError("UPDATE …", {}, _DriverError("deadlock detected", "40P01")))


def test_a_constraint_violation_is_not_retried() -> None:
    assert not is_transient(DBAPIError("INSERT …", {}, _DriverError("unique violation", "23505")))


def test_an_exhausted_connection_pool_is_transient() -> None:
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    assert is_transient(PoolTimeoutError("QueuePool limit of size 5 overflow 5 reached"))


def test_a_fallback_queue_decision_about_an_unknown_person_round_trips_through_its_bytes() -> None:
    # Given a decision with no owner and no team (the fallback queue) about a lead scored without a person
    # (behaviour only): to_bytes leaves the None fields out, and decoding must not call them missing
    from tests.notifier.factories import a_decision, a_lead

    lead = a_lead().model_copy(update={"person": None})
    decision = a_decision(lead=lead).model_copy(update={"owner": None, "team": None})
    cloud = CloudEvent[RoutingDecision](
        id="d1", source="/test", type="io.leadflow.routing.decision.v1", time=datetime(2026, 1, 1, tzinfo=UTC),
        data=decision,
    )  # fmt: skip
    back = decode(cloud.to_bytes(), RoutingDecision).data
    assert back.owner is None
    assert back.team is None
    assert back.lead.person is None
