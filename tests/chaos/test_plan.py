"""Pure: the chaos load's leads and poison records."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson

from chaos.plan import Outcome, lead_name, name_pattern, plan_lead
from chaos.poison import CONSUMED_TOPICS, KINDS, poison_records


def test_the_mix_of_alerted_and_silent_leads_follows_the_share() -> None:
    plans = [plan_lead("r", seq, rank_a_share=0.6, resend_share=0.1) for seq in range(1, 1001)]
    counts = Counter(p.outcome for p in plans)
    assert 550 <= counts[Outcome.ALERTED] <= 650


def test_a_lead_name_is_found_again_in_rendered_text_and_no_other_is() -> None:
    text = f"New lead: {lead_name('r', 12)}, Chaos Works — Demo request; {lead_name('other', 13)}"
    assert name_pattern("r").findall(text) == ["000012"]


def test_each_lead_has_its_own_lead_id() -> None:
    plans = [plan_lead("r", seq, rank_a_share=0.5, resend_share=0) for seq in range(1, 200)]
    assert len({p.lead_id for p in plans}) == len(plans)


def test_every_consumed_topic_gets_every_kind_of_poison_each_with_its_marker_in_the_bytes() -> None:
    records = poison_records("r", datetime(2026, 11, 23, tzinfo=UTC))
    assert {(r.topic, r.kind) for r in records} == {(t, k) for t in CONSUMED_TOPICS for k in KINDS}
    assert all(r.marker.encode() in r.value for r in records)


def test_the_unknown_type_poison_is_otherwise_a_valid_cloud_event() -> None:
    record = next(r for r in poison_records("r", datetime(2026, 11, 23, tzinfo=UTC)) if r.kind == "unknown-type")
    envelope = orjson.loads(record.value)
    assert envelope["specversion"] == "1.0"
    assert envelope["type"] == "io.leadflow.teleported.v1"
