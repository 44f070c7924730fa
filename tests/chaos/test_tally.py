"""Pure: how a chaos run counts lost, doubled and unwanted outcomes per stage."""

from __future__ import annotations

from chaos.plan import LeadPlan, Outcome
from chaos.tally import Observed, StageCount, tally

ALERTED = LeadPlan("run1", 1, Outcome.ALERTED, "demo_request")
SILENT = LeadPlan("run1", 2, Outcome.SILENT, "newsletter")
PLANS = [ALERTED, SILENT]


def _seen(**overrides: object) -> Observed:
    values: dict[str, object] = {
        "accepted": {1: "ev1", 2: "ev2"},
        "scored": {ALERTED.lead_id: 1, SILENT.lead_id: 1},
        "decisions": {ALERTED.lead_id: 1},
        "slack": {1: 1},
        "email": {1: 1},
    }
    values.update(overrides)
    return Observed(**values)  # type: ignore[arg-type]


def _stage(counts: list[StageCount], name: str) -> StageCount:
    return next(c for c in counts if c.stage == name)


def test_a_clean_run_has_every_stage_ok() -> None:
    counts = tally(PLANS, _seen())
    assert all(c.ok for c in counts)
    assert [(c.stage, c.expected, c.observed) for c in counts] == [
        ("accepted", 2, 2), ("scored", 2, 2), ("routed", 1, 1), ("slack", 1, 1), ("email", 1, 1),
    ]  # fmt: skip


def test_an_alert_never_sent_is_counted_lost_with_its_lead_id() -> None:
    counts = tally(PLANS, _seen(email={}))
    email = _stage(counts, "email")
    assert (email.lost, email.ok) == (1, False)
    assert email.lost_samples == (ALERTED.lead_id,)


def test_an_alert_sent_twice_is_counted_duplicated() -> None:
    slack = _stage(tally(PLANS, _seen(slack={1: 2})), "slack")
    assert (slack.duplicated, slack.ok) == (1, False)


def test_an_alert_for_a_newsletter_lead_is_counted_unwanted() -> None:
    slack = _stage(tally(PLANS, _seen(slack={1: 1, 2: 1})), "slack")
    assert (slack.unexpected, slack.ok) == (1, False)


def test_a_lead_its_sender_was_refused_is_not_expected_downstream() -> None:
    counts = tally(PLANS, _seen(accepted={2: "ev2"}, refused=frozenset({1}), slack={}, email={}, decisions={}))
    assert _stage(counts, "accepted").lost == 1
    assert _stage(counts, "slack").expected == 0
    assert _stage(counts, "slack").ok


def test_a_resend_answered_with_another_event_id_is_counted_duplicated() -> None:
    accepted = _stage(tally(PLANS, _seen(resend_mismatches=1)), "accepted")
    assert (accepted.duplicated, accepted.ok) == (1, False)


def test_two_routing_decisions_for_one_lead_are_counted_duplicated() -> None:
    routed = _stage(tally(PLANS, _seen(decisions={ALERTED.lead_id: 2})), "routed")
    assert routed.duplicated == 1
