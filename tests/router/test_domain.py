"""The router's pure domain: triggers, rules, eligibility, strategies, account match, fallback, SLA, the SQL
first-proposal clock and the seminar follow-up."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.router.config import RoutingConfig
from services.router.domain import (
    Assignment,
    OutOfOffice,
    RepLoad,
    RepOverride,
    RotationState,
    assign,
    attendances,
    became_sql,
    loads_by_rep,
    match_rule,
    meets_clock,
    on_shift,
    read_feedback,
    reminder_times,
    routing_trigger,
    seminar_decision_id,
    seminar_follow_up,
    sla_due_at,
    sla_timers,
    to_rep_ref,
)
from shared.events import (
    Channel,
    DecisionKind,
    EventKind,
    LeadEvent,
    LeadScored,
    Person,
    Rank,
    SlaEventKind,
    SlaKind,
    Stage,
    Temperature,
)

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 6, 2, 10, 0, tzinfo=TOKYO)  # a Tuesday, mid-morning in Tokyo
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


# --- builders -------------------------------------------------------------------------------------


def rep(rep_id: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": rep_id,
        "name": rep_id.title(),
        "email": f"{rep_id}@example.com",
        "slack_id": f"U0{rep_id.upper()}",
        "team": "inside",
        "timezone": "Asia/Tokyo",
        "working_hours": {"days": WEEKDAYS, "start": "09:00", "end": "18:00"},
        "capacity": 1000,
    }
    return base | changes


def make_config(
    *,
    strategy: str = "round_robin",
    reps: list[dict[str, Any]] | None = None,
    members: list[str] | None = None,
    rules: list[dict[str, Any]] | None = None,
    account_match: bool = True,
) -> RoutingConfig:
    reps = reps if reps is not None else [rep("aoi"), rep("ben"), rep("chika")]
    manager = {"name": "Mana Ger", "email": "manager@example.com", "slack_id": "U0MANAGER"}
    everyone = [r["id"] for r in reps]
    return RoutingConfig.model_validate(
        {
            "regions": {"JP": "apac", "US": "amer", "DE": "emea"},
            "segments": {"enterprise_min": 1000, "mid_min": 300},
            "teams": [
                {
                    "id": "inside",
                    "name": "Inside Sales",
                    "manager": manager,
                    "strategy": strategy,
                    "members": members or everyone,
                },
                {"id": "enterprise", "name": "Enterprise", "manager": manager, "members": everyone},
                {"id": "jp", "name": "JP Inside Sales", "manager": manager, "members": everyone},
            ],
            "reps": reps,
            "rules": rules or [{"id": "default", "team": "inside"}],
            "fallback_queue": {
                "id": "unassigned",
                "name": "Unassigned leads",
                "manager": manager,
                "slack_channel": "#leads-unassigned",
            },
            "account_match": {"enabled": account_match},
            "triggers": {
                "on_mql": True,
                "rank_a_kinds": [
                    "demo_request",
                    "contact",
                    "pricing_inquiry",
                    "document_request",
                    "consultation_request",
                ],
            },
            "sla": {
                "windows": {"rank_a": "1h", "mql": "24h", "sql": "7d", "seminar_follow_up": 86400},
                "reminders_at": [0.5, 0.9],
                "follow_up_target": 5,
            },
        }
    )


def lead(
    *,
    kind: EventKind = EventKind.WEBINAR_ATTENDED,
    channel: Channel = Channel.WEBINAR,
    rank: Rank = Rank.B,
    stage: Stage = Stage.MQL,
    previous_stage: Stage = Stage.LEAD,
    total: float = 65.0,
    country: str | None = "JP",
    employees: int | None = 120,
    industry: str | None = "Manufacturing",
) -> LeadScored:
    trigger = LeadEvent(
        event_id="ev-1",
        lead_id="ld-1",
        channel=channel,
        kind=kind,
        occurred_at=NOW,
        received_at=NOW,
        source="test",
    )
    person = Person(
        email="taro@sample.co.jp",
        email_domain="sample.co.jp",
        company="株式会社サンプル",
        company_key="domain:sample.co.jp",
        country=country,
        employees=employees,
        industry=industry,
    )
    return LeadScored(
        lead_id="ld-1",
        person=person,
        fit=25.0,
        intent=total - 25.0,
        total=total,
        rank=rank,
        temperature=Temperature.WARM,
        stage=stage,
        previous_stage=previous_stage,
        reasons=[],
        trigger=trigger,
        new_events=[trigger],
        model_version="test",
        scored_at=NOW,
    )


def rank_a_lead() -> LeadScored:
    return lead(kind=EventKind.DEMO_REQUEST, channel=Channel.WEB_FORM, rank=Rank.A, stage=Stage.LEAD)


def route(
    config: RoutingConfig,
    scored: LeadScored | None = None,
    *,
    now: datetime = NOW,
    loads: dict[str, int] | None = None,
    rotation: RotationState | None = None,
    owner: str | None = None,
    excluded: frozenset[str] = frozenset(),
    overrides: dict[str, RepOverride] | None = None,
) -> Assignment:
    return assign(
        scored or lead(),
        config,
        now=now,
        loads=loads or {},
        rotation=rotation,
        account_owner_rep_id=owner,
        excluded_rep_ids=excluded,
        rep_overrides=overrides,
    )


def simulate(
    config: RoutingConfig, leads: int, *, loads: dict[str, int] | None = None, **kwargs: Any
) -> tuple[Counter[str], RotationState | None, dict[str, int]]:
    """Route ``leads`` equal leads, feeding back the rotation and counting open leads as the adapter would."""
    counts: Counter[str] = Counter()
    loads = dict(loads or {})
    rotation: RotationState | None = kwargs.pop("rotation", None)
    for _ in range(leads):
        result = route(config, loads=loads, rotation=rotation, **kwargs)
        assert result.rep is not None
        counts[result.rep.id] += 1
        loads[result.rep.id] = loads.get(result.rep.id, 0) + 1
        rotation = result.rotation or rotation
    return counts, rotation, loads


def picked(result: Assignment) -> str | None:
    return result.rep.id if result.rep else None


def skipped(result: Assignment) -> dict[str, str | None]:
    return {c["rep_id"]: c["skipped_because"] for c in result.trace["candidates"]}


# --- when a lead is routed ------------------------------------------------------------------------


def test_a_demo_request_starts_the_rank_a_sla() -> None:
    # Given a demo request
    scored = rank_a_lead()
    # When / Then
    assert routing_trigger(scored, make_config()) is SlaKind.RANK_A


def test_a_lead_that_just_became_mql_starts_the_mql_sla() -> None:
    assert routing_trigger(lead(stage=Stage.MQL, previous_stage=Stage.LEAD), make_config()) is SlaKind.MQL


def test_a_lead_that_was_already_mql_is_not_routed_again() -> None:
    assert routing_trigger(lead(stage=Stage.MQL, previous_stage=Stage.MQL), make_config()) is None


def test_a_lead_below_mql_without_a_rank_a_action_is_not_routed() -> None:
    assert routing_trigger(lead(stage=Stage.LEAD, previous_stage=Stage.LEAD), make_config()) is None


# --- which rule -----------------------------------------------------------------------------------

TERRITORY_RULES: list[dict[str, Any]] = [
    {"id": "rank-a-fast-lane", "when": {"rank": ["A"], "channel": ["web_form"]}, "team": "enterprise"},
    {"id": "enterprise", "when": {"segment": ["enterprise"]}, "team": "enterprise"},
    {"id": "jp-smb-mid", "when": {"country": ["jp"], "segment": ["smb", "mid"]}, "team": "jp"},
    {"id": "emea", "when": {"region": ["emea"]}, "team": "inside"},
    {"id": "fintech-hot", "when": {"industry": ["FinTech"], "score_min": 80}, "team": "enterprise"},
    {"id": "mid-sized", "when": {"employees_min": 200, "employees_max": 499}, "team": "inside"},
    {"id": "default", "team": "inside"},
]


@pytest.mark.parametrize(
    ("scored", "expected_rule"),
    [
        pytest.param(rank_a_lead(), "rank-a-fast-lane", id="rank and channel"),
        pytest.param(lead(country="US", employees=5000), "enterprise", id="segment enterprise"),
        pytest.param(lead(country="JP", employees=120), "jp-smb-mid", id="country and segment"),
        pytest.param(lead(country="DE", employees=50), "emea", id="region from the country map"),
        pytest.param(
            lead(country="US", employees=50, industry="fintech", total=85),
            "fintech-hot",
            id="industry any case",
        ),
        pytest.param(lead(country="US", employees=50, industry="FinTech", total=79), "default", id="below score"),
        pytest.param(lead(country="US", employees=450), "mid-sized", id="employee range"),
        pytest.param(lead(country="US", employees=None), "default", id="unknown size matches no size rule"),
    ],
)
def test_the_first_rule_whose_conditions_all_hold_is_chosen(scored: LeadScored, expected_rule: str) -> None:
    # Given territory rules ending in a default
    config = make_config(rules=TERRITORY_RULES)
    # When the lead is matched / Then the expected rule wins
    assert match_rule(scored, config).id == expected_rule


def test_an_earlier_matching_rule_wins_over_a_later_one() -> None:
    # Given two rules that both match a JP enterprise lead
    config = make_config(
        rules=[
            {"id": "japan", "when": {"country": ["JP"]}, "team": "jp"},
            {"id": "enterprise", "when": {"segment": ["enterprise"]}, "team": "enterprise"},
            {"id": "default", "team": "inside"},
        ]
    )
    # When / Then the first one listed wins
    assert match_rule(lead(country="JP", employees=5000), config).id == "japan"


def test_a_stage_condition_excludes_other_stages() -> None:
    config = make_config(
        rules=[
            {"id": "sql-only", "when": {"stage": ["sql"]}, "team": "jp"},
            {"id": "default", "team": "inside"},
        ]
    )
    assert match_rule(lead(stage=Stage.MQL), config).id == "default"


def test_the_rules_team_is_the_one_assigned() -> None:
    # Given an enterprise rule
    config = make_config(rules=TERRITORY_RULES)
    # When an enterprise lead is assigned
    result = route(config, lead(country="US", employees=5000))
    # Then the enterprise team owns it and the reason names the rule and team
    assert (result.team_id, result.rule_id) == ("enterprise", "enterprise")
    assert "rule enterprise → team Enterprise" in result.reason


# --- strategies -----------------------------------------------------------------------------------


def test_round_robin_spreads_300_equal_leads_evenly_over_3_reps() -> None:
    counts, _, _ = simulate(make_config(strategy="round_robin"), 300)
    assert counts == {"aoi": 100, "ben": 100, "chika": 100}


def test_round_robin_gives_the_lead_to_the_member_after_the_last_one() -> None:
    # Given ben took the last lead
    rotation = RotationState(team_id="inside", last_rep_id="ben")
    # When the next lead comes in
    result = route(make_config(), rotation=rotation)
    # Then chika has the turn, and the new state remembers her
    assert picked(result) == "chika"
    assert result.rotation == RotationState(team_id="inside", last_rep_id="chika", current_weights={})


def test_round_robin_wraps_to_the_top_of_the_member_list() -> None:
    result = route(make_config(), rotation=RotationState(team_id="inside", last_rep_id="chika"))
    assert picked(result) == "aoi"


def test_weighted_2_1_1_over_300_leads_gives_exactly_150_75_75() -> None:
    # Given weights 2:1:1
    config = make_config(strategy="weighted", reps=[rep("aoi", weight=2), rep("ben"), rep("chika")])
    # When 300 equal leads arrive
    counts, _, _ = simulate(config, 300)
    # Then they split exactly by weight
    assert counts == {"aoi": 150, "ben": 75, "chika": 75}


def test_weighted_interleaves_rather_than_giving_one_rep_a_run() -> None:
    config = make_config(strategy="weighted", reps=[rep("aoi", weight=2), rep("ben"), rep("chika")])
    picks = []
    rotation = None
    for _ in range(4):
        result = route(config, rotation=rotation)
        assert result.rep is not None
        picks.append(result.rep.id)
        rotation = result.rotation
    assert picks == ["aoi", "ben", "chika", "aoi"]


def test_least_loaded_picks_the_rep_with_the_fewest_open_leads() -> None:
    result = route(make_config(strategy="least_loaded"), loads={"aoi": 12, "ben": 3, "chika": 7})
    assert picked(result) == "ben"
    assert result.reason.endswith("fewest open leads (3)")


def test_least_loaded_breaks_ties_by_turn_order_after_the_last_rep() -> None:
    rotation = RotationState(team_id="inside", last_rep_id="aoi")
    result = route(make_config(strategy="least_loaded"), loads={"aoi": 2, "ben": 2, "chika": 2}, rotation=rotation)
    assert picked(result) == "ben"


def test_least_loaded_brings_uneven_loads_level() -> None:
    # Given uneven open leads
    start = {"aoi": 10, "ben": 0, "chika": 5}
    # When 15 leads arrive
    counts, _, loads = simulate(make_config(strategy="least_loaded"), 15, loads=start)
    # Then everyone ends level and the busiest rep got nothing
    assert loads == {"aoi": 10, "ben": 10, "chika": 10}
    assert counts["aoi"] == 0


def test_a_rules_strategy_overrides_the_teams() -> None:
    config = make_config(
        strategy="round_robin", rules=[{"id": "default", "team": "inside", "strategy": "least_loaded"}]
    )
    result = route(config, loads={"aoi": 5, "ben": 5, "chika": 0})
    assert picked(result) == "chika"
    assert result.trace["strategy"] == "least_loaded"


# --- eligibility ----------------------------------------------------------------------------------


def test_a_rep_out_of_office_is_skipped_with_the_return_date() -> None:
    # Given aoi is away until 1 December
    away = [{"start": "2026-05-01T00:00:00+09:00", "end": "2026-12-01T00:00:00+09:00"}]
    config = make_config(reps=[rep("aoi", out_of_office=away), rep("ben"), rep("chika")])
    # When a lead comes in
    result = route(config)
    # Then ben takes it and the trace says why aoi did not
    assert picked(result) == "ben"
    assert skipped(result)["aoi"] == "out of office until 2026-12-01"


def test_a_rep_whose_leave_has_ended_is_eligible_again() -> None:
    away = [{"start": "2026-05-01T00:00:00+09:00", "end": "2026-06-01T00:00:00+09:00"}]
    config = make_config(reps=[rep("aoi", out_of_office=away), rep("ben"), rep("chika")])
    result = route(config)
    assert picked(result) == "aoi"


def test_an_inactive_rep_is_skipped() -> None:
    config = make_config(reps=[rep("aoi", active=False), rep("ben"), rep("chika")])
    result = route(config)
    assert picked(result) == "ben"
    assert skipped(result)["aoi"] == "inactive"


def test_a_rep_at_capacity_is_skipped() -> None:
    config = make_config(reps=[rep("aoi", capacity=50), rep("ben"), rep("chika")])
    result = route(config, loads={"aoi": 50})
    assert picked(result) == "ben"
    assert skipped(result)["aoi"] == "at capacity 50/50"


def test_a_rep_off_shift_is_skipped_for_a_rank_a_lead() -> None:
    # Given aoi works New York hours, and it is 21:00 there
    config = make_config(reps=[rep("aoi", timezone="America/New_York"), rep("ben"), rep("chika")])
    # When a rank-A lead comes in
    result = route(config, rank_a_lead())
    # Then aoi is skipped as off shift, with her local time
    assert picked(result) == "ben"
    assert skipped(result)["aoi"] == "off shift (America/New_York 21:00)"


def test_a_rep_off_shift_still_gets_an_mql() -> None:
    # Given aoi is off shift in New York; an MQL has a 24 h window, so shifts do not matter
    config = make_config(reps=[rep("aoi", timezone="America/New_York"), rep("ben"), rep("chika")])
    result = route(config, lead(stage=Stage.MQL))
    assert picked(result) == "aoi"


def test_a_weekend_shows_the_day_in_the_off_shift_reason() -> None:
    saturday = datetime(2026, 6, 6, 10, 0, tzinfo=TOKYO)
    result = route(make_config(), rank_a_lead(), now=saturday)
    assert skipped(result)["aoi"] == "off shift (Asia/Tokyo Sat 10:00)"


def test_an_overnight_shift_covers_the_small_hours_of_the_next_day() -> None:
    config = make_config(
        reps=[rep("aoi", working_hours={"days": ["mon"], "start": "22:00", "end": "06:00"}), rep("ben")]
    )
    hours = config.reps[0].working_hours
    tuesday_3am = datetime(2026, 6, 2, 3, 0, tzinfo=TOKYO)
    assert on_shift(hours, tuesday_3am)


def test_a_rep_who_rejected_the_lead_before_is_never_picked() -> None:
    # Given aoi rejected this lead and it is her turn
    rotation = RotationState(team_id="inside", last_rep_id="chika")
    # When the lead is reassigned
    result = route(make_config(), rotation=rotation, excluded=frozenset({"aoi"}))
    # Then ben gets it
    assert picked(result) == "ben"
    assert skipped(result)["aoi"] == "rejected this lead before"


def test_a_runtime_override_can_deactivate_a_rep() -> None:
    result = route(make_config(), overrides={"aoi": RepOverride(active=False)})
    assert picked(result) == "ben"
    assert skipped(result)["aoi"] == "inactive"


def test_a_runtime_override_can_lower_a_reps_capacity() -> None:
    result = route(make_config(), loads={"aoi": 20}, overrides={"aoi": RepOverride(capacity=20)})
    assert skipped(result)["aoi"] == "at capacity 20/20"


def test_a_runtime_override_can_send_a_rep_on_leave() -> None:
    leave = OutOfOffice(start=NOW - timedelta(days=1), end=datetime(2026, 6, 3, 12, 0, tzinfo=TOKYO))
    result = route(make_config(), overrides={"aoi": RepOverride(out_of_office=[leave])})
    assert skipped(result)["aoi"] == "out of office until 2026-06-03 12:00"


# --- account match --------------------------------------------------------------------------------


def test_the_existing_owner_of_the_account_gets_the_lead() -> None:
    # Given chika already owns the account and it is aoi's turn
    result = route(make_config(), owner="chika")
    # Then chika gets it, as an account match, without moving the rotation
    assert result.kind is DecisionKind.ACCOUNT_MATCH
    assert picked(result) == "chika"
    assert result.rotation is None
    assert result.reason.endswith("already owns this account")


def test_an_account_owner_at_capacity_falls_through_to_the_team() -> None:
    config = make_config(reps=[rep("aoi"), rep("ben"), rep("chika", capacity=50)])
    result = route(config, owner="chika", loads={"chika": 50})
    assert result.kind is DecisionKind.ASSIGNED
    assert picked(result) == "aoi"
    assert result.trace["account_match"]["outcome"] == "owner skipped: at capacity 50/50"


def test_an_account_owner_who_rejected_the_lead_does_not_get_it_back() -> None:
    result = route(make_config(), owner="chika", excluded=frozenset({"chika"}))
    assert result.kind is DecisionKind.ASSIGNED
    assert picked(result) == "aoi"


def test_account_matching_can_be_turned_off() -> None:
    result = route(make_config(account_match=False), owner="chika")
    assert result.kind is DecisionKind.ASSIGNED
    assert picked(result) == "aoi"


def test_an_account_owner_unknown_to_the_config_falls_through_to_the_team() -> None:
    result = route(make_config(), owner="someone-who-left")
    assert result.kind is DecisionKind.ASSIGNED
    assert result.trace["account_match"]["outcome"] == "owner is not in routing.yaml"


# --- fallback -------------------------------------------------------------------------------------


def test_when_nobody_is_eligible_the_lead_goes_to_the_fallback_queue() -> None:
    # Given one rep inactive, one full, one away
    away = [{"start": "2026-05-01T00:00:00+09:00", "end": "2026-12-01T00:00:00+09:00"}]
    config = make_config(reps=[rep("aoi", active=False), rep("ben", capacity=10), rep("chika", out_of_office=away)])
    # When a lead comes in
    result = route(config, loads={"ben": 10})
    # Then it waits in the fallback queue, and the trace says why each rep was skipped
    assert (result.kind, result.rep, result.queue_id) == (DecisionKind.FALLBACK, None, "unassigned")
    assert result.rotation is None
    assert skipped(result) == {
        "aoi": "inactive",
        "ben": "at capacity 10/10",
        "chika": "out of office until 2026-12-01",
    }
    assert result.reason.endswith("nobody eligible → Unassigned leads")


# --- leave and membership changes -----------------------------------------------------------------


def test_a_rep_back_from_leave_takes_normal_turns_in_round_robin() -> None:
    # Given chika was away while 30 leads went to aoi and ben
    away = [{"start": "2026-05-01T00:00:00+09:00", "end": "2026-06-02T09:00:00+09:00"}]
    config = make_config(reps=[rep("aoi"), rep("ben"), rep("chika", out_of_office=away)])
    _, rotation, loads = simulate(config, 30, now=datetime(2026, 6, 1, 10, 0, tzinfo=TOKYO))
    # When she is back and 30 more leads arrive
    counts, _, _ = simulate(config, 30, loads=loads, rotation=rotation)
    # Then she gets her share, not a catch-up flood
    assert counts == {"aoi": 10, "ben": 10, "chika": 10}


def test_a_rep_back_from_leave_is_not_flooded_in_weighted_rotation() -> None:
    away = [{"start": "2026-05-01T00:00:00+09:00", "end": "2026-06-02T09:00:00+09:00"}]
    config = make_config(strategy="weighted", reps=[rep("aoi"), rep("ben"), rep("chika", out_of_office=away)])
    _, rotation, loads = simulate(config, 30, now=datetime(2026, 6, 1, 10, 0, tzinfo=TOKYO))
    counts, _, _ = simulate(config, 30, loads=loads, rotation=rotation)
    assert counts == {"aoi": 10, "ben": 10, "chika": 10}


def test_removing_a_member_keeps_everyone_elses_turn() -> None:
    # Given ben took the last lead, and then dan left the team
    config = make_config(reps=[rep("aoi"), rep("ben"), rep("chika"), rep("dan")], members=["aoi", "ben", "chika"])
    # When the next lead comes in
    result = route(config, rotation=RotationState(team_id="inside", last_rep_id="ben"))
    # Then it is still chika's turn
    assert picked(result) == "chika"


def test_adding_a_member_gives_them_a_turn_in_list_order() -> None:
    # Given chika took the last lead, and dan was added at the end of the list
    config = make_config(reps=[rep("aoi"), rep("ben"), rep("chika"), rep("dan")])
    # When the next lead comes in
    result = route(config, rotation=RotationState(team_id="inside", last_rep_id="chika"))
    # Then dan is next, not aoi
    assert picked(result) == "dan"


def test_when_the_last_rep_left_the_team_the_rotation_starts_from_the_top() -> None:
    config = make_config(reps=[rep("aoi"), rep("ben"), rep("chika"), rep("dan")], members=["aoi", "ben", "chika"])
    result = route(config, rotation=RotationState(team_id="inside", last_rep_id="dan"))
    assert picked(result) == "aoi"


def test_a_rotation_state_for_another_team_is_ignored() -> None:
    result = route(make_config(), rotation=RotationState(team_id="enterprise", last_rep_id="aoi"))
    assert picked(result) == "aoi"
    assert result.trace["rotation_ignored"] == "state given was for team enterprise"


# --- explanation ----------------------------------------------------------------------------------


def test_the_reason_is_one_readable_line() -> None:
    result = route(make_config(), rank_a_lead())
    assert result.reason == "Rank A demo request · rule default → team Inside Sales · round-robin turn"


def test_the_trace_is_json_and_names_the_config_version_and_pick() -> None:
    result = route(make_config(), rank_a_lead())
    trace = json.loads(json.dumps(result.trace))
    assert (trace["config_version"], trace["picked"], trace["rule"]["id"]) == ("inline", "aoi", "default")


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        route(make_config(), now=datetime(2026, 6, 2, 10, 0))


def test_loads_from_rows_count_missing_reps_as_zero() -> None:
    assert loads_by_rep([RepLoad(rep_id="aoi", open_leads=3)]) == {"aoi": 3}


def test_a_rep_ref_carries_the_home_team_managers_contacts() -> None:
    config = make_config()
    ref = to_rep_ref(config.reps[0], config)
    assert (ref.rep_id, ref.manager_slack_id, ref.manager_email) == (
        "aoi",
        "U0MANAGER",
        "manager@example.com",
    )


# --- SLA ------------------------------------------------------------------------------------------


def test_a_rank_a_lead_is_due_one_hour_after_the_decision() -> None:
    assert sla_due_at(SlaKind.RANK_A, NOW, make_config()) == NOW + timedelta(hours=1)


def test_an_sql_is_due_seven_days_after_the_decision() -> None:
    assert sla_due_at(SlaKind.SQL, NOW, make_config()) == NOW + timedelta(days=7)


def test_a_window_given_in_seconds_is_honoured() -> None:
    assert sla_due_at(SlaKind.SEMINAR_FOLLOW_UP, NOW, make_config()) == NOW + timedelta(hours=24)


def test_reminders_fall_at_half_and_nine_tenths_of_the_window() -> None:
    assert reminder_times(SlaKind.MQL, NOW, make_config()) == [
        NOW + timedelta(hours=12),
        NOW + timedelta(hours=21, minutes=36),
    ]


def test_a_decay_reevaluation_naming_an_old_demo_request_is_not_a_new_rank_a_action() -> None:
    # Given a re-evaluation update: no event applied, the trigger is the lead's latest (old) demo request
    reevaluated = rank_a_lead().model_copy(update={"new_events": []})
    # Then it starts no rank-A SLA
    assert routing_trigger(reevaluated, make_config()) is None


# --- SQL first-proposal clock ---------------------------------------------------------------------


def event(kind: EventKind, event_id: str, at: datetime = NOW, **details: Any) -> LeadEvent:
    channel = Channel.WEBINAR if kind.value.startswith(("webinar", "consultation")) else Channel.FEEDBACK
    return LeadEvent(
        event_id=event_id,
        lead_id="ld-1",
        channel=channel,
        kind=kind,
        occurred_at=at,
        received_at=at,
        source="test",
        details=details,
    )


@pytest.mark.parametrize(
    ("previous", "stage", "starts"),
    [
        (Stage.SAL, Stage.SQL, True),
        (Stage.MQL, Stage.SQL, True),
        (Stage.SQL, Stage.SQL, False),
        (Stage.SQL, Stage.OPPORTUNITY, False),
        (Stage.MQL, Stage.TQL, False),
    ],
)
def test_only_the_update_that_makes_a_lead_sql_starts_the_proposal_clock(
    previous: Stage, stage: Stage, starts: bool
) -> None:
    assert became_sql(lead(stage=stage, previous_stage=previous)) is starts


def test_a_proposal_clock_on_a_decision_has_ids_of_its_own_and_a_seven_day_deadline() -> None:
    config = make_config()
    # Given a decision's own one-hour clock and an SQL clock started on the same decision two days later
    own = sla_timers("dec-1", SlaKind.RANK_A, NOW, config)
    later = sla_timers("dec-1", SlaKind.SQL, NOW + timedelta(days=2), config, later_clock=True)
    # Then none of their ids collide, and the SQL alarms fall at 3.5, 6.3 and 7 days after it started
    assert not {t.timer_id for t in own} & {t.timer_id for t in later}
    assert [(t.kind, t.fire_at - NOW - timedelta(days=2)) for t in later] == [
        (SlaEventKind.REMINDER, timedelta(days=3.5)),
        (SlaEventKind.REMINDER, timedelta(days=6.3)),
        (SlaEventKind.BREACH, timedelta(days=7)),
    ]
    # And they are the same ids every time (a replay is a no-op)
    assert later == sla_timers("dec-1", SlaKind.SQL, NOW + timedelta(days=2), config, later_clock=True)


def test_a_meeting_meets_the_proposal_clock_and_a_call_does_not() -> None:
    call = read_feedback([event(EventKind.SALES_CONTACTED, "ev-call")])
    meeting = read_feedback([event(EventKind.SALES_MEETING, "ev-meet")])
    assert (meets_clock(call, SlaKind.SQL), meets_clock(meeting, SlaKind.SQL)) == (False, True)


@pytest.mark.parametrize("kind", [SlaKind.RANK_A, SlaKind.MQL])
def test_a_call_still_meets_a_first_contact_clock_and_a_meeting_alone_does_not(kind: SlaKind) -> None:
    call = read_feedback([event(EventKind.SALES_CONTACTED, "ev-call")])
    meeting = read_feedback([event(EventKind.SALES_MEETING, "ev-meet")])
    assert (meets_clock(call, kind), meets_clock(meeting, kind)) == (True, False)


# --- seminar follow-up ----------------------------------------------------------------------------


def attended(*events: LeadEvent) -> LeadScored:
    return lead().model_copy(update={"new_events": list(events), "trigger": events[0]})


def test_each_webinar_attendance_in_an_update_is_followed_up_once_oldest_first() -> None:
    first = event(EventKind.WEBINAR_ATTENDED, "ev-b", NOW, webinar="DX Summit")
    second = event(EventKind.WEBINAR_ATTENDED, "ev-a", NOW + timedelta(minutes=5), webinar="AI Day")
    noise = event(EventKind.WEBINAR_REGISTERED, "ev-c", NOW)
    assert [e.event_id for e in attendances([second, noise, first, first])] == ["ev-b", "ev-a"]


def test_a_follow_up_decision_id_is_stable_per_lead_and_attendance() -> None:
    assert seminar_decision_id("ld-1", "ev-1") == seminar_decision_id("ld-1", "ev-1")
    assert len({seminar_decision_id("ld-1", "ev-1"), seminar_decision_id("ld-1", "ev-2")}) == 2
    assert seminar_decision_id("ld-1", "ev-1") != seminar_decision_id("ld-2", "ev-1")


def test_a_seminar_follow_up_is_for_the_owner_and_due_in_24_hours() -> None:
    config = make_config()
    owner = config.rep("ben")
    attendance = event(EventKind.WEBINAR_ATTENDED, "ev-9", webinar="DX Summit")
    # Given a lead owned by ben whose update's trigger was something else
    scored = attended(event(EventKind.WEBINAR_QUESTION, "ev-8"), attendance)
    # When the follow-up is decided
    decision = seminar_follow_up(scored, attendance, config, owner=owner, owner_team_id="inside", now=NOW)
    # Then it is ben's, of SLA kind seminar_follow_up, due a day later, and thanks for that attendance
    assert decision.owner is not None
    assert (decision.owner.rep_id, decision.team, decision.sla_kind) == ("ben", "inside", SlaKind.SEMINAR_FOLLOW_UP)
    assert decision.sla_due_at == NOW + timedelta(hours=24)
    assert decision.lead.trigger == attendance
    assert decision.decision_id == seminar_decision_id("ld-1", "ev-9")
    assert "DX Summit" in decision.reason


def test_a_lead_without_an_owner_is_followed_up_for_the_manager_of_the_team_its_rule_selects() -> None:
    rules = [{"id": "japan", "when": {"country": ["JP"]}, "team": "jp"}, {"id": "default", "team": "inside"}]
    config = make_config(rules=rules)
    attendance = event(EventKind.WEBINAR_ATTENDED, "ev-9", webinar="DX Summit")
    decision = seminar_follow_up(attended(attendance), attendance, config, owner=None, owner_team_id=None, now=NOW)
    assert decision.owner is not None
    assert (decision.owner.rep_id, decision.owner.email, decision.team) == ("manager:jp", "manager@example.com", "jp")
    assert (decision.trace["sent_for"], decision.trace["rule_matched"]) == ("team_manager", "japan")
    assert decision.kind is DecisionKind.ASSIGNED


def test_a_lead_qualifying_straight_to_sql_is_routed_like_a_new_mql() -> None:
    # Given a first update that makes a lead SQL at once (score ≥ 80 and all four BANT facts), skipping MQL
    scored = lead(stage=Stage.SQL, previous_stage=Stage.LEAD)
    # Then it is routed, with the MQL first-contact window
    assert routing_trigger(scored, make_config()) is SlaKind.MQL


def test_a_lead_moving_on_from_mql_is_not_routed_again() -> None:
    assert routing_trigger(lead(stage=Stage.SAL, previous_stage=Stage.MQL), make_config()) is None
