"""scoring.yaml: the shipped defaults load, and a broken file says which key on which line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.model import EmailDomainRule, EventMatch, MatchSet, load_scoring_model, parse_scoring_model
from shared.config_file import ConfigError, file_version
from shared.events import EventKind

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "scoring.yaml"


def shipped_text() -> str:
    return SHIPPED.read_text(encoding="utf-8")


def line_of(text: str, fragment: str) -> int:
    """1-based line number of the only line containing ``fragment``."""
    lines = [number for number, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(lines) == 1, f"{fragment!r} is on lines {lines}"
    return lines[0]


def test_the_shipped_model_has_the_domain_thresholds() -> None:
    # Given the shipped scoring.yaml
    # When it is loaded
    model = load_scoring_model(SHIPPED)
    # Then the MQL and SQL bars are the documented defaults
    assert (model.thresholds.mql, model.thresholds.sql) == (60, 80)


def test_a_loaded_model_is_versioned_by_the_file_hash() -> None:
    # Given the shipped scoring.yaml
    # When it is loaded
    model = load_scoring_model(SHIPPED)
    # Then its version is the file's content hash
    assert model.version == file_version(SHIPPED)


def test_a_parsed_model_carries_the_version_it_was_given() -> None:
    # Given the shipped text
    # When it is parsed with an explicit version
    model = parse_scoring_model(shipped_text(), version="test-1")
    # Then that version is kept
    assert model.version == "test-1"


def test_the_shipped_model_halves_intent_every_90_days() -> None:
    # Given / When the shipped model
    model = load_scoring_model(SHIPPED)
    # Then the half-life is the documented default
    assert model.intent.half_life_days == 90


def test_the_shipped_model_caps_email_opens_at_5_per_30_days() -> None:
    # Given / When the shipped model
    model = load_scoring_model(SHIPPED)
    # Then the email-open rule is capped as documented
    rule = model.intent.rule_for(EventKind.EMAIL_OPEN, {})
    assert rule is not None
    assert rule.cap is not None
    assert (rule.points, rule.cap.points, rule.cap.window_days) == (1, 5, 30)


def test_a_wrong_type_names_the_key_path_and_line() -> None:
    # Given a threshold that is not a number
    text = shipped_text().replace("  mql: 60 ", "  mql: sixty ")
    # When it is parsed
    with pytest.raises(ConfigError) as caught:
        parse_scoring_model(text)
    # Then the error names thresholds.mql and its line
    assert "thresholds.mql" in str(caught.value)
    assert f"line {line_of(text, 'mql: sixty')}" in str(caught.value)


def test_an_unknown_key_names_the_key_path_and_line() -> None:
    # Given a misspelt key inside the fit section
    text = shipped_text().replace("  seniority:\n", "  senority_bonus: 5\n  seniority:\n")
    # When it is parsed
    with pytest.raises(ConfigError) as caught:
        parse_scoring_model(text)
    # Then the error names fit.senority_bonus and its line
    assert "fit.senority_bonus" in str(caught.value)
    assert f"line {line_of(text, 'senority_bonus')}" in str(caught.value)


def test_a_wrong_type_inside_a_rule_list_names_the_rule_index_and_line() -> None:
    # Given an intent rule whose points are not a number
    text = shipped_text().replace("label: Demo request, points: 40", "label: Demo request, points: lots")
    # When it is parsed
    with pytest.raises(ConfigError) as caught:
        parse_scoring_model(text)
    # Then the error names intent.rules.0.points and its line
    assert "intent.rules.0.points" in str(caught.value)
    assert f"line {line_of(text, 'points: lots')}" in str(caught.value)


def test_an_unknown_event_kind_is_refused() -> None:
    # Given a rank list naming a kind that does not exist
    text = shipped_text().replace("  a: [demo_request,", "  a: [demo_requst,")
    # When it is parsed
    with pytest.raises(ConfigError) as caught:
        parse_scoring_model(text)
    # Then the error points at rank.a
    assert "rank.a.0" in str(caught.value)


def test_a_version_key_in_the_file_is_refused() -> None:
    # Given a file that tries to set its own version
    text = "version: v9\n" + shipped_text()
    # When it is parsed
    # Then it is refused: the version is the content hash
    with pytest.raises(ConfigError, match="version"):
        parse_scoring_model(text)


def test_an_invalid_regular_expression_is_refused() -> None:
    # Given a pricing pattern that is not a regex
    text = shipped_text().replace('matches: "/pricing"', 'matches: "/pricing("')
    # When it is parsed
    # Then the error says so
    with pytest.raises(ConfigError, match="regular expression"):
        parse_scoring_model(text)


def test_duplicate_rule_ids_are_refused() -> None:
    # Given two intent rules with the same id
    text = shipped_text().replace("{id: contact, kind: contact", "{id: demo_request, kind: contact")
    # When it is parsed
    # Then the duplicate is named
    with pytest.raises(ConfigError, match="'demo_request' is used twice"):
        parse_scoring_model(text)


def test_overlapping_employee_bands_are_refused() -> None:
    # Given a band that overlaps the next one
    text = shipped_text().replace("{min: 300, max: 999, points: 10}", "{min: 300, max: 1000, points: 10}")
    # When it is parsed
    # Then the overlap is named
    with pytest.raises(ConfigError, match="overlap"):
        parse_scoring_model(text)


def test_an_sql_threshold_below_mql_is_refused() -> None:
    # Given an SQL bar lower than the MQL bar
    text = shipped_text().replace("  sql: 80 ", "  sql: 50 ")
    # When it is parsed
    # Then it is refused
    with pytest.raises(ConfigError, match="sql threshold is below"):
        parse_scoring_model(text)


def test_a_cap_on_a_negative_rule_is_refused() -> None:
    # Given a cap on the unsubscribe penalty
    text = shipped_text().replace(
        "points: -20, decays: false}", "points: -20, decays: false, cap: {points: 5, window_days: 30}}"
    )
    # When it is parsed
    # Then it is refused
    with pytest.raises(ConfigError, match="cap limits positive points"):
        parse_scoring_model(text)


def test_a_missing_file_is_a_config_error() -> None:
    # Given a path with no file
    missing = SHIPPED.with_name("no-such-scoring.yaml")
    # When it is loaded
    # Then a ConfigError names it
    with pytest.raises(ConfigError, match=r"no-such-scoring\.yaml"):
        load_scoring_model(missing)


def test_the_first_matching_rule_in_file_order_scores_an_event_whatever_its_kind() -> None:
    # Given a model whose page-view rules are a narrow one (pricing) before a broad one
    model = load_scoring_model(SHIPPED)
    # When each kind, with and without a pricing URL, is looked up
    for kind in EventKind:
        for details in ({}, {"url": "https://example.com/pricing"}, {"rating": "hot"}):
            found = model.intent.rule_for(kind, details)
            # Then it is the first rule of the file that matches, as a scan of every rule would find it
            expected = next((rule for rule in model.intent.rules if rule.matches_event(kind, details)), None)
            assert found is expected


_MATCH_DETAILS: list[dict[str, object]] = [
    {},
    {"url": "https://example.com/pricing"},
    {"rating": "HOT"},
    {"rating": ""},
]


def test_a_match_set_answers_as_trying_every_match_would() -> None:
    # Given the shipped rank and temperature matches, and a list mixing bare kinds and narrowed ones
    model = load_scoring_model(SHIPPED)
    narrowed = tuple(
        EventMatch.model_validate(m)
        for m in ("page_view", {"kind": "badge_scan", "when": [{"key": "rating", "one_of": ["hot"]}]},
                  {"kind": "badge_scan", "when": [{"key": "rating", "matches": "^$", "or_absent": True}]})
    )  # fmt: skip
    lists = [model.rank.a, model.rank.b, model.rank.b_engagement.kinds, model.temperature.hot, narrowed]
    for matches in lists:
        found = MatchSet(matches)
        for kind in EventKind:
            for details in _MATCH_DETAILS:
                # When an event is looked up / Then the answer is that of any match of the list
                assert found.matches(kind, dict(details)) == any(
                    m.matches_event(kind, dict(details)) for m in matches
                ), (kind, details)


def test_the_model_s_match_sets_are_its_lists() -> None:
    # Given the shipped model
    model = load_scoring_model(SHIPPED)
    # When its sets are asked about every kind / Then they agree with the lists they stand for
    for kind in EventKind:
        expected_warm = any(m.matches_event(kind, {}) for m in (*model.temperature.hot, *model.temperature.warm))
        assert model.temperature.warm_or_hot_set.matches(kind, {}) == expected_warm
        assert model.rank.a_set.matches(kind, {}) == any(m.matches_event(kind, {}) for m in model.rank.a)


@settings(max_examples=200, deadline=None, database=None)
@given(labels=st.lists(st.sampled_from(["gmail", "com", "co", "jp", "yahoo", "sales", "edu", "ac", "x"]), max_size=5))
def test_an_email_domain_rule_matches_a_listed_domain_and_its_subdomains_only(labels: list[str]) -> None:
    # Given a rule listing domains, and a domain made of some labels
    rule = EmailDomainRule(id="r", label="R", points=-1, domains=("gmail.com", "yahoo.co.jp", "com.jp"))
    domain = ".".join(labels)
    # When it is matched / Then it is exactly: the domain is listed, or ends with "." + a listed one
    expected = any(domain == listed or domain.endswith("." + listed) for listed in rule.domains)
    assert rule.matches_domain(domain) == expected
