"""What scoring publishes and stores for a scored lead, built from one dump of it (no stack needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.scoring.consumer import lead_row, scored_message, scored_output
from services.scoring.lead_update import evaluate_lead
from services.scoring.model import load_scoring_model
from shared.events import (
    Channel,
    CloudEvent,
    CloudEventType,
    EventKind,
    LeadEvent,
    LeadScored,
    Person,
    ScoreReason,
    Stage,
    Topics,
)

MODEL = load_scoring_model(Path(__file__).resolve().parents[2] / "config" / "scoring.yaml")
NOW = datetime(2026, 11, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _scored() -> LeadScored:
    who = Person(email="taro@example.co.jp", email_domain="example.co.jp", title="部長", employees=500)
    events = [
        LeadEvent(
            event_id=f"ev-{n}",
            lead_id="ld_0123456789abcdef01234567",
            channel=Channel.BEHAVIOR,
            kind=kind,
            occurred_at=NOW - timedelta(days=n),
            received_at=NOW,
            source="test",
            person=who if n else None,
            details={"url": "https://example.co.jp/pricing"} if kind is EventKind.PAGE_VIEW else {},
        )
        for n, kind in enumerate([EventKind.DEMO_REQUEST, EventKind.PAGE_VIEW, EventKind.EMAIL_OPEN])
    ]
    return evaluate_lead(
        all_events=events, new_events=events[:1], current_stage=Stage.LEAD, model=MODEL, now=NOW
    ).scored


@pytest.mark.parametrize("correlation_id", [None, "corr-1"])
def test_a_scored_record_is_exactly_the_cloud_event_of_the_scored_lead(correlation_id: str | None) -> None:
    # Given a scored lead
    scored = _scored()
    # When its record is built
    message = scored_message(scored, "sc_abc", correlation_id)
    # Then its bytes are those of the CloudEvent envelope around it, and it goes to the scored topic by lead
    cloud = CloudEvent[LeadScored](
        id="sc_abc", source="/leadflow/scoring", type=CloudEventType.LEAD_SCORED, subject=scored.lead_id,
        time=scored.scored_at, correlationid=correlation_id, data=scored,
    )  # fmt: skip
    assert message.value == cloud.to_bytes()
    assert (message.id, message.topic, message.key) == ("sc_abc", Topics.SCORED, scored.lead_id)
    assert message.headers == ((("correlation_id", b"corr-1"),) if correlation_id else ())


def test_a_published_record_reads_back_as_the_scored_lead() -> None:
    # Given a scored lead's record
    scored = _scored()
    message = scored_message(scored, "sc_abc", None)
    # When a consumer decodes it
    decoded = CloudEvent[LeadScored].model_validate_json(message.value)
    # Then it is the same value
    assert decoded.data == scored


def test_the_stored_row_reads_back_as_the_scored_values() -> None:
    # Given a scored lead
    scored = _scored()
    last = NOW - timedelta(hours=1)
    # When its row is built
    row = lead_row(scored, last)
    # Then its JSON columns read back as the person, BANT and reasons, and the rest are the plain values
    assert row["person"] is not None
    assert Person.model_validate(row["person"]) == scored.person
    assert [ScoreReason.model_validate(r) for r in row["reasons"]] == scored.reasons  # type: ignore[attr-defined]
    assert row["bant"] == scored.bant.model_dump(mode="json")
    assert (row["total"], row["rank"], row["stage"], row["last_event_at"]) == (
        scored.total, scored.rank.value, scored.stage.value, last,
    )  # fmt: skip


def test_one_dump_gives_the_same_row_and_record_as_building_each_alone() -> None:
    # Given a scored lead
    scored = _scored()
    # When the row and the record are built together
    row, message = scored_output(scored, NOW, "sc_abc", "corr-1")
    # Then they equal the ones built on their own
    assert row == lead_row(scored, NOW)
    assert message == scored_message(scored, "sc_abc", "corr-1")
