"""Scoring a lead again without a new event: decay over time, or a changed model."""

from __future__ import annotations

from datetime import timedelta

from services.scoring.lead_update import Cause, StoredState, reevaluate_lead, reevaluated_id
from services.scoring.model import parse_scoring_model
from shared.events import EventKind, LeadEvent, Rank, Stage, Temperature
from tests.scoring.test_domain import MODEL, NOW, SHIPPED, event, person

# A VP at a 500-person manufacturer: 35 fit points
VP = person(seniority="decision_maker", title="VP Sales", employees=500, industry="manufacturing")
HOT_MQL = StoredState(Stage.MQL, Rank.A, Temperature.HOT)


def demo_lead() -> list[LeadEvent]:
    return [event(EventKind.DEMO_REQUEST, days_ago=0, who=VP)]


def test_a_lead_past_the_hot_window_is_published_as_cooled_down() -> None:
    # Given a hot rank-A MQL whose demo request is now 100 days old
    events = demo_lead()
    # When re-evaluated 100 days later
    result = reevaluate_lead(all_events=events, stored=HOT_MQL, model=MODEL, now=NOW + timedelta(days=100))
    # Then it went down from hot to warm and from rank A, and the change is to be published
    scored = result.update.scored
    assert (scored.temperature, scored.rank) == (Temperature.WARM, Rank.C)
    assert result.temperature_changed
    assert result.rank_changed
    assert result.went_down
    assert result.crossed


def test_decay_below_the_mql_bar_nurtures_the_lead_with_a_stage_step_of_no_event() -> None:
    # Given an MQL of 75 (35 fit + 40 demo request)
    events = demo_lead()
    # When re-evaluated 100 days later (the demo is worth 18.5)
    result = reevaluate_lead(all_events=events, stored=HOT_MQL, model=MODEL, now=NOW + timedelta(days=100))
    # Then it is nurtured, and the history step names no event
    assert result.update.scored.stage == Stage.NURTURE
    assert [(s.from_stage, s.to_stage, s.event_id) for s in result.update.steps] == [(Stage.MQL, Stage.NURTURE, None)]


def test_a_re_evaluation_has_no_new_events_and_names_the_latest_event_as_trigger() -> None:
    # Given a lead with a demo request and a later email open
    demo = event(EventKind.DEMO_REQUEST, days_ago=10, who=VP)
    opened = event(EventKind.EMAIL_OPEN, days_ago=5)
    # When re-evaluated
    result = reevaluate_lead(all_events=[opened, demo], stored=HOT_MQL, model=MODEL, now=NOW)
    # Then downstream can tell it from a new action: no new events, the latest event as trigger
    assert result.update.scored.new_events == []
    assert result.update.scored.trigger.event_id == opened.event_id
    assert result.update.scored.previous_stage == Stage.MQL


def test_a_lead_that_crossed_nothing_is_not_published() -> None:
    # Given a hot rank-A MQL
    events = demo_lead()
    # When re-evaluated a day later
    result = reevaluate_lead(all_events=events, stored=HOT_MQL, model=MODEL, now=NOW + timedelta(days=1))
    # Then its score decayed a little but nothing crossed a threshold
    assert result.update.scored.total < 75
    assert not result.crossed
    assert not result.went_down


def test_a_model_with_a_lower_mql_bar_qualifies_a_lead_upwards() -> None:
    # Given a webinar attendee of 50 (35 fit + 15) below the default bar of 60
    events = [event(EventKind.WEBINAR_ATTENDED, who=VP)]
    stored = StoredState(Stage.LEAD, Rank.B, Temperature.WARM)
    lowered = parse_scoring_model(SHIPPED.read_text().replace("mql: 60", "mql: 45"), version="v2")
    # When rescored under a model whose MQL bar is 45
    result = reevaluate_lead(all_events=events, stored=stored, model=lowered, now=NOW)
    # Then it became an MQL, stamped with the new model version, and nothing went down
    assert (result.update.scored.stage, result.update.scored.model_version) == (Stage.MQL, "v2")
    assert result.stage_changed
    assert not result.went_down


def test_the_same_crossing_always_gets_the_same_id() -> None:
    # Given one lead re-evaluated twice at the same moment
    events = demo_lead()
    later = NOW + timedelta(days=100)
    first = reevaluate_lead(all_events=events, stored=HOT_MQL, model=MODEL, now=later)
    again = reevaluate_lead(all_events=events, stored=HOT_MQL, model=MODEL, now=later + timedelta(hours=1))
    # When their ids are derived
    # Then a redelivered or repeated crossing is recognisable downstream
    assert reevaluated_id(Cause.DECAY, HOT_MQL, first.update.scored) == reevaluated_id(
        Cause.DECAY, HOT_MQL, again.update.scored
    )


def test_a_new_event_makes_a_later_crossing_a_new_one() -> None:
    # Given a lead that cooled once, then did something and cooled again
    events = demo_lead()
    later = NOW + timedelta(days=100)
    first = reevaluate_lead(all_events=events, stored=HOT_MQL, model=MODEL, now=later)
    more = [*events, event(EventKind.EMAIL_OPEN, days_ago=-1)]
    second = reevaluate_lead(all_events=more, stored=HOT_MQL, model=MODEL, now=later)
    # When their ids are derived
    # Then they differ, so the second is not dropped as a duplicate
    assert reevaluated_id(Cause.DECAY, HOT_MQL, first.update.scored) != reevaluated_id(
        Cause.DECAY, HOT_MQL, second.update.scored
    )
