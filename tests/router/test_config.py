"""routing.yaml: the shipped default loads, and a broken file fails naming the key and the line."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path

import pytest

from services.router.config import Strategy, load_routing_config, parse_routing_config
from shared.config_file import ConfigError
from shared.events import SlaKind

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "routing.yaml"

VALID = """\
regions: {JP: apac, US: amer}
segments: {enterprise_min: 1000, mid_min: 300}
teams:
  - id: jp
    name: JP Inside Sales
    manager: {name: Yuki Nakamura, email: yuki@example.com, slack_id: U0LF0100}
    members: [rep-sato]
  - id: global
    name: Global
    manager: {name: Sarah Johnson, email: sarah@example.com, slack_id: U0LF0101}
    strategy: least_loaded
    members: [rep-miller]
reps:
  - id: rep-sato
    name: 佐藤 健一
    email: sato@example.com
    slack_id: U0LF0001
    team: jp
    timezone: Asia/Tokyo
    locale: ja
    working_hours: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00"}
    capacity: 50
  - id: rep-miller
    name: James Miller
    email: miller@example.com
    slack_id: U0LF0002
    team: global
    timezone: America/New_York
    working_hours: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
    capacity: 50
rules:
  - id: japan
    when: {country: [JP]}
    team: jp
  - id: default
    team: global
fallback_queue:
  id: unassigned
  name: Unassigned leads
  manager: {name: Sarah Johnson, email: sarah@example.com, slack_id: U0LF0101}
  slack_channel: "#leads-unassigned"
triggers:
  rank_a_kinds: [demo_request, contact]
sla:
  windows: {rank_a: 1h, mql: 24h, sql: 7d, seminar_follow_up: 90}
  reminders_at: [0.9, 0.5]
  follow_up_target: 5
"""


def line_of(text: str, needle: str) -> int:
    """The 1-based line on which ``needle`` first appears."""
    return next(number for number, line in enumerate(text.splitlines(), start=1) if needle in line)


def error_for(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_routing_config(text)
    return str(caught.value)


# --- the shipped default ------------------------------------------------------------------------------------


def test_the_shipped_routing_yaml_loads() -> None:
    config = load_routing_config(SHIPPED)
    assert {team.id for team in config.teams} == {"enterprise", "jp-inside-sales", "global"}


def test_the_shipped_routing_yaml_ends_in_a_default_rule() -> None:
    config = load_routing_config(SHIPPED)
    assert config.rules[-1].when.is_empty


def test_a_loaded_config_is_versioned_by_its_content_hash() -> None:
    assert re.fullmatch(r"[0-9a-f]{12}", load_routing_config(SHIPPED).version)


def test_a_config_parsed_from_text_is_versioned_inline_unless_told() -> None:
    assert parse_routing_config(VALID).version == "inline"
    assert parse_routing_config(VALID, version="abc123").version == "abc123"


# --- values -------------------------------------------------------------------------------------------------


def test_durations_accept_hours_days_and_plain_seconds() -> None:
    windows = parse_routing_config(VALID).sla.windows
    assert windows[SlaKind.RANK_A] == timedelta(hours=1)
    assert windows[SlaKind.SQL] == timedelta(days=7)
    assert windows[SlaKind.SEMINAR_FOLLOW_UP] == timedelta(seconds=90)


def test_reminder_fractions_are_kept_in_order() -> None:
    assert parse_routing_config(VALID).sla.reminders_at == [0.5, 0.9]


def test_working_hours_are_read_as_clock_times() -> None:
    hours = parse_routing_config(VALID).reps[0].working_hours
    assert (hours.start, hours.end) == (time(9, 0), time(18, 0))


def test_a_team_without_a_strategy_uses_round_robin() -> None:
    assert parse_routing_config(VALID).team("jp").strategy is Strategy.ROUND_ROBIN


def test_rule_countries_are_compared_in_upper_case() -> None:
    text = VALID.replace("when: {country: [JP]}", "when: {country: [jp]}")
    assert parse_routing_config(text).rules[0].when.country == ["JP"]


# --- errors name the line -----------------------------------------------------------------------------------


def test_a_rule_naming_an_unknown_team_is_refused_with_its_line() -> None:
    # Given the japan rule points at a team that does not exist
    text = VALID.replace("    team: jp\n  - id: default", "    team: japan-team\n  - id: default")
    # When / Then the error names the rule's team key and its line
    message = error_for(text)
    assert f"line {line_of(text, 'team: japan-team')}: rules.0.team" in message
    assert "unknown team 'japan-team'" in message


def test_rules_without_a_default_at_the_end_are_refused_with_the_line_of_the_last_rule() -> None:
    # Given the last rule has a condition
    text = VALID.replace(
        "  - id: default\n    team: global", "  - id: usa\n    when: {country: [US]}\n    team: global"
    )
    # When / Then
    message = error_for(text)
    assert f"line {line_of(text, 'id: usa')}: rules.1" in message
    assert "must be a default" in message


def test_a_catch_all_rule_before_the_end_is_refused_because_later_rules_never_match() -> None:
    text = VALID.replace("    when: {country: [JP]}\n", "")
    message = error_for(text)
    assert f"line {line_of(text, 'id: japan')}: rules.0" in message
    assert "these never match: default" in message


def test_an_unknown_timezone_is_refused_with_its_line() -> None:
    text = VALID.replace("timezone: Asia/Tokyo", "timezone: Asia/Tokio")
    message = error_for(text)
    assert f"line {line_of(text, 'Asia/Tokio')}: reps.0.timezone" in message
    assert "unknown IANA timezone 'Asia/Tokio'" in message


def test_a_team_naming_an_unknown_rep_is_refused_with_its_line() -> None:
    text = VALID.replace("members: [rep-sato]", "members: [rep-sato, rep-ghost]")
    message = error_for(text)
    assert f"line {line_of(text, 'rep-ghost')}: teams.0.members.1" in message
    assert "unknown rep 'rep-ghost'" in message


def test_a_rep_whose_home_team_is_unknown_is_refused() -> None:
    text = VALID.replace("    team: global\n    timezone", "    team: nowhere\n    timezone")
    assert "reps.1.team: unknown team 'nowhere'" in error_for(text)


def test_an_unquoted_clock_time_is_refused_with_a_hint() -> None:
    # YAML reads 18:00 unquoted as the number 1080
    text = VALID.replace('end: "18:00"', "end: 18:00")
    assert 'quoted "HH:MM"' in error_for(text)


def test_an_unknown_key_is_refused() -> None:
    text = VALID.replace(
        "    capacity: 50\n  - id: rep-miller", "    capacity: 50\n    capacty: 40\n  - id: rep-miller"
    )
    message = error_for(text)
    assert f"line {line_of(text, 'capacty')}: reps.0.capacty" in message


def test_an_sla_without_every_kind_is_refused() -> None:
    text = VALID.replace(", seminar_follow_up: 90", "")
    assert "missing a window for: seminar_follow_up" in error_for(text)


def test_a_duration_that_is_not_one_is_refused() -> None:
    text = VALID.replace("rank_a: 1h", "rank_a: soon")
    assert "'soon' is not a duration" in error_for(text)


def test_a_reminder_outside_the_window_is_refused() -> None:
    text = VALID.replace("reminders_at: [0.9, 0.5]", "reminders_at: [0.5, 1.5]")
    assert "strictly between 0 and 1" in error_for(text)


def test_a_rule_cannot_mix_segment_and_employee_bounds() -> None:
    text = VALID.replace("when: {country: [JP]}", "when: {segment: [smb], employees_min: 10}")
    assert "either segment or employees_min/employees_max" in error_for(text)


def test_a_rule_region_missing_from_the_region_map_is_refused() -> None:
    text = VALID.replace("when: {country: [JP]}", "when: {region: [latam]}")
    assert "region 'latam' is not a value in regions" in error_for(text)


def test_a_duplicate_rep_id_is_refused() -> None:
    text = VALID.replace("id: rep-miller", "id: rep-sato").replace("members: [rep-miller]", "members: [rep-sato]")
    assert "reps.1.id: duplicate id 'rep-sato'" in error_for(text)


def test_out_of_office_without_a_timezone_is_refused() -> None:
    text = VALID.replace(
        "    capacity: 50\n  - id: rep-miller",
        "    capacity: 50\n    out_of_office: [{start: 2026-08-10T00:00:00, end: 2026-08-17T00:00:00}]\n"
        "  - id: rep-miller",
    )
    assert "reps.0.out_of_office.0.start" in error_for(text)


# --- seminar follow-up switch -------------------------------------------------------------------------------


def test_the_seminar_follow_up_is_on_unless_turned_off() -> None:
    assert parse_routing_config(VALID).seminar_follow_up.enabled is True
    text = VALID + "seminar_follow_up: {enabled: false}\n"
    assert parse_routing_config(text).seminar_follow_up.enabled is False


def test_the_shipped_routing_yaml_asks_for_seminar_follow_ups() -> None:
    assert load_routing_config(SHIPPED).seminar_follow_up.enabled is True


def test_a_bad_seminar_follow_up_switch_is_refused_with_its_line() -> None:
    text = VALID + "seminar_follow_up: {enabled: sometimes}\n"
    message = error_for(text)
    assert f"line {line_of(text, 'sometimes')}: seminar_follow_up.enabled" in message


def test_an_unknown_seminar_follow_up_key_is_refused_with_its_line() -> None:
    text = VALID + "seminar_follow_up:\n  enabled: true\n  within: 2h\n"
    assert f"line {line_of(text, 'within: 2h')}: seminar_follow_up.within" in error_for(text)
