"""The scoring domain: every rule of DOMAIN.md with the shipped scoring.yaml, and the lead lifecycle."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.domain import (
    ScoreResult,
    compute_score,
    merge_bant,
    merge_profile,
    next_stage,
    top_reasons,
)
from services.scoring.model import ScoringModel, load_scoring_model, parse_scoring_model
from shared.events import (
    Bant,
    Channel,
    EventKind,
    LeadEvent,
    Person,
    Rank,
    ScoreReason,
    Seniority,
    Stage,
    Temperature,
)

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "scoring.yaml"
MODEL = load_scoring_model(SHIPPED)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ALL_BANT = Bant(budget=True, authority=True, need=True, timeline=True)
FEEDBACK_KINDS = [kind for kind in EventKind if kind.value.startswith("sales_")]
_ids = itertools.count()


def person(**overrides: Any) -> Person:
    fields: dict[str, Any] = {"email": "taro@example.co.jp", "email_domain": "example.co.jp"}
    return Person(**(fields | overrides))


def event(
    kind: EventKind,
    *,
    days_ago: float = 0,
    event_id: str | None = None,
    details: dict[str, Any] | None = None,
    who: Person | None = None,
) -> LeadEvent:
    occurred_at = NOW - timedelta(days=days_ago)
    return LeadEvent(
        event_id=event_id or f"ev-{next(_ids):05d}",
        lead_id="ld_test",
        channel=Channel.FEEDBACK if kind in FEEDBACK_KINDS else Channel.BEHAVIOR,
        kind=kind,
        occurred_at=occurred_at,
        received_at=occurred_at,
        source="test",
        person=who,
        details=details or {},
    )


def score(
    events: Sequence[LeadEvent], who: Person | None = None, model: ScoringModel = MODEL, now: datetime = NOW
) -> ScoreResult:
    return compute_score(who, events, model, now)


def rules_of(result: ScoreResult) -> list[str]:
    return [reason.rule for reason in result.reasons]


def only_reason(result: ScoreResult) -> ScoreReason:
    assert len(result.reasons) == 1, result.reasons
    return result.reasons[0]


# ---- fit ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seniority", "points"),
    [(Seniority.DECISION_MAKER, 15), (Seniority.MANAGER, 10), (Seniority.STAFF, 3)],
)
def test_each_seniority_scores_its_fit_points(seniority: Seniority, points: float) -> None:
    # Given a person of that seniority
    who = person(seniority=seniority)
    # When scored without events
    result = score([], who)
    # Then the fit is the seniority's points, under its own rule
    assert result.fit == points
    assert only_reason(result).rule == f"fit.seniority.{seniority.value}"


def test_an_unknown_seniority_scores_nothing_and_gives_no_reason() -> None:
    # Given a person without a recognisable title
    # When scored
    result = score([], person())
    # Then nothing fires
    assert (result.fit, result.reasons) == (0, ())


def test_the_seniority_reason_names_the_title() -> None:
    # Given a VP of Sales
    who = person(title="VP of Sales", seniority=Seniority.DECISION_MAKER)
    # When scored
    reason = only_reason(score([], who))
    # Then the label reads as a sentence with the title
    assert reason.label == "Decision maker (VP of Sales)"


@pytest.mark.parametrize(
    ("employees", "points"),
    [(5000, 15), (1000, 15), (999, 10), (300, 10), (299, 5), (50, 5), (49, 0), (None, 0)],
)
def test_the_company_size_band_scores_its_points(employees: int | None, points: float) -> None:
    # Given a company of that size
    who = person(employees=employees)
    # When scored
    result = score([], who)
    # Then the fit is the band's points
    assert result.fit == points


def test_the_company_size_reason_names_the_band_and_the_size() -> None:
    # Given a 500-person company
    # When scored
    reason = only_reason(score([], person(employees=500)))
    # Then the rule and label name the 300–999 band
    assert (reason.rule, reason.label) == ("fit.employees.300_999", "Company of 300–999 employees (500)")


@pytest.mark.parametrize(
    "industry", ["Manufacturing", "ＭＡＮＵＦＡＣＴＵＲＩＮＧ", " software ", "製造業", "情報通信"]
)
def test_a_target_industry_scores_10_whatever_its_case_or_width(industry: str) -> None:
    # Given a person in a target industry, spelled in any case or width
    # When scored
    reason = only_reason(score([], person(industry=industry)))
    # Then the industry rule fires
    assert (reason.rule, reason.points) == ("fit.industry.target", 10)


def test_another_industry_scores_nothing() -> None:
    # Given a person in an industry that is not targeted
    # When scored
    result = score([], person(industry="Retail"))
    # Then no fit
    assert result.reasons == ()


def test_a_configured_country_scores_its_points() -> None:
    # Given a model giving Japan 5 points
    model = parse_scoring_model(SHIPPED.read_text(encoding="utf-8").replace("countries: {}", "countries: {JP: 5}"))
    # When a person in "jp" is scored
    reason = only_reason(score([], person(country="jp"), model=model))
    # Then the country rule fires
    assert (reason.rule, reason.value) == ("fit.country.jp", 5)


def test_countries_score_nothing_by_default() -> None:
    # Given the shipped model
    # When a person in Japan is scored
    result = score([], person(country="JP"))
    # Then no country points
    assert result.reasons == ()


@pytest.mark.parametrize(
    ("domain", "rule", "points"),
    [
        ("gmail.com", "fit.email.free_mail", -10),
        ("yahoo.co.jp", "fit.email.free_mail", -10),
        ("competitor.example", "fit.email.competitor", -50),
        ("sales.competitor.example", "fit.email.competitor", -50),
        ("g.u-tokyo.ac.jp", "fit.email.student", -20),
        ("mit.edu", "fit.email.student", -20),
    ],
)
def test_a_listed_email_domain_scores_its_penalty(domain: str, rule: str, points: float) -> None:
    # Given a person with that email domain
    who = person(email=f"someone@{domain}", email_domain=domain)
    # When scored
    reason = only_reason(score([], who))
    # Then the domain rule fires with its penalty
    assert (reason.rule, reason.value) == (rule, points)


def test_a_corporate_email_domain_scores_nothing() -> None:
    # Given a corporate address
    # When scored
    result = score([], person())
    # Then no domain rule fires
    assert result.reasons == ()


def test_fit_reasons_carry_no_event() -> None:
    # Given a decision maker
    # When scored
    reason = only_reason(score([], person(seniority=Seniority.DECISION_MAKER)))
    # Then the reason is not tied to an event
    assert (reason.event_id, reason.occurred_at) == (None, None)


def test_fit_does_not_decay() -> None:
    # Given a decision maker at a large company
    who = person(seniority=Seniority.DECISION_MAKER, employees=2000)
    # When scored now and three years later
    later = score([], who, now=NOW + timedelta(days=3 * 365))
    # Then the fit is the same
    assert later.fit == score([], who).fit == 30


def test_no_person_means_no_fit() -> None:
    # Given events without any person
    # When scored without a profile
    result = score([event(EventKind.DEMO_REQUEST)])
    # Then only intent counts
    assert (result.fit, result.total) == (0, 40)


# ---- intent ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "points"),
    [
        (EventKind.DEMO_REQUEST, 40),
        (EventKind.CONTACT, 40),
        (EventKind.PRICING_INQUIRY, 40),
        (EventKind.DOCUMENT_REQUEST, 30),
        (EventKind.CONSULTATION_REQUEST, 40),
        (EventKind.WEBINAR_ATTENDED, 15),
        (EventKind.WEBINAR_REGISTERED, 5),
        (EventKind.WEBINAR_QUESTION, 5),
        (EventKind.WHITEPAPER_DOWNLOAD, 10),
        (EventKind.BADGE_SCAN, 5),
        (EventKind.EMAIL_OPEN, 1),
        (EventKind.EMAIL_CLICK, 3),
        (EventKind.PAGE_VIEW, 1),
        (EventKind.UNSUBSCRIBE, -20),
        (EventKind.BOUNCE, -50),
    ],
)
def test_each_intent_kind_scores_its_points(kind: EventKind, points: float) -> None:
    # Given one fresh event of that kind
    # When scored
    result = score([event(kind)])
    # Then the intent is the kind's points
    assert result.intent == points


def test_an_intent_reason_names_the_rule_and_the_event() -> None:
    # Given a demo request
    demo = event(EventKind.DEMO_REQUEST, days_ago=0)
    # When scored
    reason = only_reason(score([demo]))
    # Then the reason explains it with the event behind it
    assert reason == ScoreReason(
        rule="intent.demo_request",
        label="Demo request",
        points=40,
        value=40,
        event_id=demo.event_id,
        occurred_at=demo.occurred_at,
    )


def test_a_pricing_page_view_is_its_own_rule_worth_15() -> None:
    # Given a view of the pricing page
    view = event(EventKind.PAGE_VIEW, details={"url": "https://example.com/ja/pricing?plan=pro"})
    # When scored
    reason = only_reason(score([view]))
    # Then the pricing rule fires instead of the page-view rule
    assert (reason.rule, reason.value) == ("intent.pricing_page_view", 15)


def test_another_page_view_is_a_plain_page_view() -> None:
    # Given a view of a product page
    view = event(EventKind.PAGE_VIEW, details={"url": "https://example.com/product"})
    # When scored
    reason = only_reason(score([view]))
    # Then the plain page-view rule fires
    assert (reason.rule, reason.value) == ("intent.page_view", 1)


@pytest.mark.parametrize("rating", ["hot", "HOT", "ｈｏｔ"])
def test_a_badge_scan_rated_hot_scores_15(rating: str) -> None:
    # Given a badge scan the rep rated hot
    scan = event(EventKind.BADGE_SCAN, details={"rating": rating})
    # When scored
    reason = only_reason(score([scan]))
    # Then the hot-scan rule fires
    assert (reason.rule, reason.value) == ("intent.badge_scan_hot", 15)


def test_a_hard_bounce_scores_minus_50() -> None:
    # Given a bounce reported as hard
    # When scored
    result = score([event(EventKind.BOUNCE, details={"bounce_type": "hard"})])
    # Then it is the bounce penalty
    assert result.intent == -50


def test_a_soft_bounce_scores_nothing() -> None:
    # Given a soft bounce
    # When scored
    result = score([event(EventKind.BOUNCE, details={"bounce_type": "soft"})])
    # Then nothing fires
    assert (result.intent, result.reasons) == (0, ())


def test_a_newsletter_signup_scores_nothing_by_default() -> None:
    # Given a newsletter signup
    # When scored
    result = score([event(EventKind.NEWSLETTER_SIGNUP)])
    # Then it adds no points and no reason
    assert (result.total, result.reasons) == (0, ())


@pytest.mark.parametrize("kind", [*FEEDBACK_KINDS, EventKind.WEBINAR_NO_SHOW])
def test_sales_feedback_and_no_shows_score_nothing(kind: EventKind) -> None:
    # Given a feedback event (or a webinar no-show)
    # When scored
    result = score([event(kind, details={"bant": {"budget": True}})])
    # Then it adds no points
    assert (result.total, result.reasons) == (0, ())


def test_negative_totals_are_possible() -> None:
    # Given a competitor whose address hard-bounced
    who = person(email="spy@competitor.example", email_domain="competitor.example")
    # When scored
    result = score([event(EventKind.BOUNCE)], who)
    # Then the total is below zero
    assert result.total == -100


# ---- decay ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("days_ago", "value"), [(0, 40), (90, 20), (180, 10)])
def test_intent_halves_every_90_days(days_ago: float, value: float) -> None:
    # Given a demo request that old
    # When scored
    reason = only_reason(score([event(EventKind.DEMO_REQUEST, days_ago=days_ago)]))
    # Then its value has halved once per half-life while its points stay raw
    assert (reason.points, reason.value) == (40, value)


def test_an_event_from_the_future_counts_as_new() -> None:
    # Given a demo request stamped 5 days ahead (clock skew)
    # When scored
    result = score([event(EventKind.DEMO_REQUEST, days_ago=-5)])
    # Then it is worth its full points, not more
    assert result.intent == 40


@pytest.mark.parametrize(("kind", "points"), [(EventKind.UNSUBSCRIBE, -20), (EventKind.BOUNCE, -50)])
def test_unsubscribes_and_bounces_do_not_decay(kind: EventKind, points: float) -> None:
    # Given a negative signal a year old
    # When scored
    result = score([event(kind, days_ago=365)])
    # Then it still weighs in full
    assert result.intent == points


def test_totals_are_rounded_to_two_decimals() -> None:
    # Given a demo request one day old
    # When scored
    result = score([event(EventKind.DEMO_REQUEST, days_ago=1)])
    # Then the total is the decayed value rounded to cents
    assert result.total == round(40 * 0.5 ** (1 / 90), 2) == 39.69


# ---- caps -----------------------------------------------------------------------------------------------


def test_six_email_opens_in_one_window_score_5() -> None:
    # Given six opens today
    opens = [event(EventKind.EMAIL_OPEN) for _ in range(6)]
    # When scored
    result = score(opens)
    # Then the cap holds them to 5
    assert result.intent == 5


def test_an_open_beyond_the_cap_gives_no_reason() -> None:
    # Given six opens over six days
    opens = [event(EventKind.EMAIL_OPEN, days_ago=day) for day in range(6)]
    # When scored
    result = score(opens)
    # Then the latest open is the one left out
    assert sorted(r.event_id for r in result.reasons if r.event_id) == sorted(e.event_id for e in opens[1:])


def test_opens_in_two_distant_windows_both_count() -> None:
    # Given five opens half a year ago and five opens this week
    opens = [event(EventKind.EMAIL_OPEN, days_ago=180 + day) for day in range(5)]
    opens += [event(EventKind.EMAIL_OPEN, days_ago=day) for day in range(5)]
    # When scored
    result = score(opens)
    # Then all ten earned their point
    assert sum(reason.points for reason in result.reasons) == 10


def test_the_cap_window_is_the_30_days_before_each_event() -> None:
    # Given five opens on consecutive days and a sixth exactly 30 days after the first
    opens = [event(EventKind.EMAIL_OPEN, days_ago=40 - day) for day in range(5)]
    sixth = event(EventKind.EMAIL_OPEN, days_ago=10)
    # When scored
    result = score([*opens, sixth])
    # Then the first open has left the sixth's window, so the sixth earns a point
    assert sixth.event_id in {reason.event_id for reason in result.reasons}


def test_twelve_page_views_in_one_window_score_10() -> None:
    # Given twelve product page views today
    views = [event(EventKind.PAGE_VIEW, details={"url": "/product"}) for _ in range(12)]
    # When scored
    result = score(views)
    # Then the cap holds them to 10
    assert result.intent == 10


def test_simultaneous_capped_events_are_granted_in_event_id_order() -> None:
    # Given six opens at the same instant, arriving in reverse id order
    opens = [event(EventKind.EMAIL_OPEN, event_id=f"ev-open-{index}") for index in range(6)]
    # When scored
    result = score(opens[::-1])
    # Then the five smallest ids earn the points and the largest is capped out
    assert sorted(r.event_id for r in result.reasons if r.event_id) == [f"ev-open-{i}" for i in range(5)]


def test_a_redelivered_event_counts_once() -> None:
    # Given the same demo request delivered twice
    demo = event(EventKind.DEMO_REQUEST)
    # When scored
    result = score([demo, demo])
    # Then it counts once
    assert result.intent == 40


# ---- order independence ---------------------------------------------------------------------------------

_SCORED_KINDS = [kind for kind in EventKind if kind not in FEEDBACK_KINDS]
_DAYS_AGO = [-1, 0, 20, 100, 200]
_DETAILS: list[dict[str, Any]] = [{}, {"url": "/pricing"}, {"rating": "hot"}, {"rating": "warm"}]


@st.composite
def event_lists(draw: st.DrawFn) -> list[LeadEvent]:
    specs = draw(
        st.lists(
            st.tuples(
                # email opens half the time, so their cap is often hit
                st.one_of(st.just(EventKind.EMAIL_OPEN), st.sampled_from(_SCORED_KINDS)),
                st.sampled_from(_DAYS_AGO),
                st.sampled_from(_DETAILS),
            ),
            min_size=5,
            max_size=40,
        )
    )
    # a few days only, so many events share a timestamp and the event_id tie-break is exercised
    return [
        event(kind, days_ago=days, event_id=f"ev-{index:03d}", details=details)
        for index, (kind, days, details) in enumerate(specs)
    ]


@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data())
def test_any_arrival_order_gives_the_identical_result(data: st.DataObject) -> None:
    # Given a lead's events in one order and a shuffle of them
    events = data.draw(event_lists())
    shuffled = data.draw(st.permutations(events))
    who = person(seniority=Seniority.MANAGER, employees=400)
    # When both are scored
    # Then the results are identical
    assert score(shuffled, who) == score(events, who)


# ---- reasons --------------------------------------------------------------------------------------------


def test_reasons_are_sorted_by_weight_then_rule() -> None:
    # Given a decision maker who clicked, unsubscribed, asked for a demo and filled the contact form
    who = person(seniority=Seniority.DECISION_MAKER)
    events = [
        event(EventKind.EMAIL_CLICK),
        event(EventKind.UNSUBSCRIBE),
        event(EventKind.DEMO_REQUEST),
        event(EventKind.CONTACT),
    ]
    # When scored
    result = score(events, who)
    # Then the heaviest come first, negative ones by their size, ties by rule
    assert rules_of(result) == [
        "intent.contact",
        "intent.demo_request",
        "intent.unsubscribe",
        "fit.seniority.decision_maker",
        "intent.email_click",
    ]


def test_top_reasons_are_the_heaviest_three() -> None:
    # Given a lead with five reasons
    who = person(seniority=Seniority.DECISION_MAKER, employees=500)
    events = [event(EventKind.EMAIL_CLICK), event(EventKind.DEMO_REQUEST), event(EventKind.WEBINAR_ATTENDED)]
    # When the top reasons are taken
    top = top_reasons(score(events, who))
    # Then they are the three largest
    assert [reason.value for reason in top] == [40, 15, 15]


def test_top_reasons_take_as_many_as_asked() -> None:
    # Given a lead with several reasons
    result = score([event(EventKind.EMAIL_CLICK), event(EventKind.DEMO_REQUEST)])
    # When one is asked for
    top = top_reasons(result, n=1)
    # Then only the demo request is returned
    assert [reason.rule for reason in top] == ["intent.demo_request"]


# ---- rank -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        EventKind.DEMO_REQUEST,
        EventKind.CONTACT,
        EventKind.PRICING_INQUIRY,
        EventKind.DOCUMENT_REQUEST,
        EventKind.CONSULTATION_REQUEST,
    ],
)
def test_a_recent_direct_action_is_rank_a(kind: EventKind) -> None:
    # Given a direct high-intent action last week
    # When scored
    result = score([event(kind, days_ago=7)])
    # Then the lead is rank A
    assert result.rank == Rank.A


def test_a_direct_action_older_than_the_recency_is_not_rank_a() -> None:
    # Given a demo request four months ago and nothing since
    # When scored
    result = score([event(EventKind.DEMO_REQUEST, days_ago=120)])
    # Then the lead is rank C
    assert result.rank == Rank.C


@pytest.mark.parametrize("kind", [EventKind.WEBINAR_ATTENDED, EventKind.WHITEPAPER_DOWNLOAD])
def test_a_seminar_or_whitepaper_is_rank_b(kind: EventKind) -> None:
    # Given a webinar attended or a whitepaper downloaded
    # When scored
    result = score([event(kind, days_ago=3)])
    # Then the lead is rank B
    assert result.rank == Rank.B


def test_three_email_engagements_within_30_days_are_rank_b() -> None:
    # Given two clicks and an open within three weeks
    events = [
        event(EventKind.EMAIL_CLICK, days_ago=20),
        event(EventKind.EMAIL_OPEN, days_ago=10),
        event(EventKind.EMAIL_CLICK, days_ago=1),
    ]
    # When scored
    # Then the lead is rank B
    assert score(events).rank == Rank.B


def test_three_email_engagements_spread_over_60_days_are_rank_c() -> None:
    # Given three clicks a month apart
    events = [event(EventKind.EMAIL_CLICK, days_ago=days) for days in (60, 30, 0)]
    # When scored
    # Then no 30-day window holds three: rank C
    assert score(events).rank == Rank.C


def test_two_email_clicks_are_rank_c() -> None:
    # Given two clicks this week
    events = [event(EventKind.EMAIL_CLICK, days_ago=days) for days in (2, 1)]
    # When scored
    # Then that is not yet repeated engagement
    assert score(events).rank == Rank.C


@pytest.mark.parametrize("kind", [EventKind.BADGE_SCAN, EventKind.NEWSLETTER_SIGNUP, EventKind.PAGE_VIEW])
def test_a_card_exchange_newsletter_or_browsing_alone_is_rank_c(kind: EventKind) -> None:
    # Given only that low-intent activity
    # When scored
    # Then the lead is rank C
    assert score([event(kind)]).rank == Rank.C


def test_a_direct_action_outranks_a_seminar() -> None:
    # Given a webinar and a demo request
    events = [event(EventKind.WEBINAR_ATTENDED), event(EventKind.DEMO_REQUEST)]
    # When scored
    # Then the lead is rank A
    assert score(events).rank == Rank.A


# ---- temperature ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "details"),
    [
        (EventKind.DEMO_REQUEST, {}),
        (EventKind.CONTACT, {}),
        (EventKind.PRICING_INQUIRY, {}),
        (EventKind.DOCUMENT_REQUEST, {}),
        (EventKind.CONSULTATION_REQUEST, {}),
        (EventKind.BADGE_SCAN, {"rating": "hot"}),
    ],
)
def test_a_recent_buying_signal_is_hot(kind: EventKind, details: dict[str, Any]) -> None:
    # Given a buying signal last month
    # When scored
    # Then the lead is hot
    assert score([event(kind, days_ago=30, details=details)]).temperature == Temperature.HOT


@pytest.mark.parametrize(
    ("kind", "details"),
    [
        (EventKind.WEBINAR_ATTENDED, {}),
        (EventKind.WEBINAR_REGISTERED, {}),
        (EventKind.WHITEPAPER_DOWNLOAD, {}),
        (EventKind.NEWSLETTER_SIGNUP, {}),
        (EventKind.EMAIL_CLICK, {}),
        (EventKind.BADGE_SCAN, {"rating": "warm"}),
    ],
)
def test_a_recent_interest_signal_is_warm(kind: EventKind, details: dict[str, Any]) -> None:
    # Given an interest signal four months ago
    # When scored
    # Then the lead is warm
    assert score([event(kind, days_ago=120, details=details)]).temperature == Temperature.WARM


@pytest.mark.parametrize("kind", [EventKind.BADGE_SCAN, EventKind.PAGE_VIEW, EventKind.EMAIL_OPEN])
def test_a_card_exchange_or_browsing_is_cold(kind: EventKind) -> None:
    # Given only an unrated scan, a page view or an open
    # When scored
    # Then the lead is cold
    assert score([event(kind)]).temperature == Temperature.COLD


def test_a_buying_signal_past_the_hot_window_cools_to_warm() -> None:
    # Given a demo request four months ago
    # When scored
    # Then the lead is still warm, not hot
    assert score([event(EventKind.DEMO_REQUEST, days_ago=120)]).temperature == Temperature.WARM


def test_interest_older_than_the_warm_window_is_cold() -> None:
    # Given a webinar attended seven months ago
    # When scored
    # Then the lead has gone cold
    assert score([event(EventKind.WEBINAR_ATTENDED, days_ago=210)]).temperature == Temperature.COLD


def test_a_cold_lead_warms_up_when_activity_resumes() -> None:
    # Given a lead gone cold since its webinar seven months ago
    history = [event(EventKind.WEBINAR_ATTENDED, days_ago=210)]
    # When it clicks an email today
    result = score([*history, event(EventKind.EMAIL_CLICK)])
    # Then it is warm again
    assert result.temperature == Temperature.WARM


# ---- scenarios ------------------------------------------------------------------------------------------


def test_a_vp_at_a_500_person_company_asking_for_a_demo_is_a_hot_rank_a_mql() -> None:
    # Given a VP of Sales at a 500-person company who requested a demo just now
    vp = person(title="VP of Sales", seniority=Seniority.DECISION_MAKER, employees=500)
    demo = event(EventKind.DEMO_REQUEST, who=vp)
    # When the lead is scored and its stage evaluated
    result = score([demo], merge_profile([demo]))
    change = next_stage(Stage.LEAD, event=demo, total=result.total, bant=Bant(), model=MODEL)
    # Then 15 + 10 + 40 = 65 makes it a hot, rank-A MQL
    assert (result.total, result.rank, result.temperature) == (65, Rank.A, Temperature.HOT)
    assert change.stage == Stage.MQL


def test_a_newsletter_only_signup_is_rank_c_and_not_an_mql() -> None:
    # Given someone who only signed up for the newsletter
    signup = event(EventKind.NEWSLETTER_SIGNUP, who=person())
    # When scored and evaluated
    result = score([signup], merge_profile([signup]))
    change = next_stage(Stage.LEAD, event=signup, total=result.total, bant=Bant(), model=MODEL)
    # Then it stays a rank-C lead
    assert (result.rank, change.stage, change.changed) == (Rank.C, Stage.LEAD, False)


# ---- profile and BANT -----------------------------------------------------------------------------------


def test_a_lead_without_any_person_has_no_profile() -> None:
    # Given feedback events only
    # When the profile is merged
    # Then there is none
    assert merge_profile([event(EventKind.SALES_ACCEPTED)]) is None


def test_the_latest_value_of_each_field_wins() -> None:
    # Given an old form with a title and company, and a newer one with a new title only
    old = event(EventKind.CONTACT, days_ago=10, who=person(title="Manager", company="Sample Inc."))
    new = event(EventKind.DEMO_REQUEST, days_ago=1, who=person(title="Director"))
    # When merged in arrival order newest first
    merged = merge_profile([new, old])
    # Then the newer title and the older company both survive
    assert merged is not None
    assert (merged.title, merged.company) == ("Director", "Sample Inc.")


def test_an_unknown_seniority_does_not_override_a_known_one() -> None:
    # Given a decision maker seen earlier and a newer form without a title
    old = event(EventKind.CONTACT, days_ago=10, who=person(seniority=Seniority.DECISION_MAKER))
    new = event(EventKind.PAGE_VIEW, days_ago=1, who=person())
    # When merged
    merged = merge_profile([old, new])
    # Then the known seniority stays
    assert merged is not None
    assert merged.seniority == Seniority.DECISION_MAKER


def test_simultaneous_profiles_are_ordered_by_event_id() -> None:
    # Given two forms at the same instant
    first = event(EventKind.CONTACT, event_id="ev-a", who=person(title="Manager"))
    second = event(EventKind.CONTACT, event_id="ev-b", who=person(title="Director"))
    # When merged in either order
    merged = {merge_profile([first, second]), merge_profile([second, first])}
    # Then the larger event id wins both times
    assert [p.title for p in merged if p is not None] == ["Director"]


def test_bant_facts_from_several_calls_add_up() -> None:
    # Given two sales calls, each confirming two facts
    calls = [
        event(EventKind.SALES_BANT, days_ago=5, details={"bant": {"budget": True, "authority": True}}),
        event(EventKind.SALES_BANT, days_ago=1, details={"bant": {"need": True, "timeline": True}}),
    ]
    # When merged
    # Then all four are confirmed
    assert merge_bant(calls).complete


def test_a_confirmed_bant_fact_stays_confirmed() -> None:
    # Given a budget confirmed, then a later call reporting it as not confirmed
    calls = [
        event(EventKind.SALES_BANT, days_ago=5, details={"bant": {"budget": True}}),
        event(EventKind.SALES_BANT, days_ago=1, details={"bant": {"budget": False}}),
    ]
    # When merged
    # Then the budget is still confirmed
    assert merge_bant(calls).budget


def test_a_form_can_confirm_bant_facts() -> None:
    # Given a demo form where the person stated their timeline
    form = event(EventKind.DEMO_REQUEST, details={"bant": {"timeline": "yes"}})
    # When merged
    # Then the timeline is confirmed and nothing else
    assert merge_bant([form]) == Bant(timeline=True)


def test_events_without_bant_confirm_nothing() -> None:
    # Given ordinary events
    # When merged
    # Then nothing is confirmed
    assert merge_bant([event(EventKind.DEMO_REQUEST), event(EventKind.SALES_ACCEPTED)]) == Bant()


# ---- stage machine --------------------------------------------------------------------------------------

_OPEN_FROM_MQL = [Stage.MQL, Stage.TQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY]

LEGAL = [
    (Stage.LEAD, EventKind.DEMO_REQUEST, 65, Bant(), Stage.MQL),
    (Stage.NURTURE, EventKind.DEMO_REQUEST, 65, Bant(), Stage.MQL),
    (Stage.MQL, EventKind.SALES_CONTACTED, 65, Bant(), Stage.TQL),
    (Stage.LEAD, EventKind.SALES_ACCEPTED, 10, Bant(), Stage.SAL),
    (Stage.MQL, EventKind.SALES_ACCEPTED, 65, Bant(), Stage.SAL),
    (Stage.TQL, EventKind.SALES_ACCEPTED, 65, Bant(), Stage.SAL),
    (Stage.TQL, EventKind.SALES_BANT, 65, ALL_BANT, Stage.SQL),
    (Stage.SAL, EventKind.SALES_BANT, 40, ALL_BANT, Stage.SQL),
    (Stage.MQL, EventKind.SALES_BANT, 85, ALL_BANT, Stage.SQL),
    (Stage.LEAD, EventKind.DEMO_REQUEST, 85, ALL_BANT, Stage.SQL),
    (Stage.SQL, EventKind.SALES_MEETING, 85, ALL_BANT, Stage.OPPORTUNITY),
    (Stage.SQL, EventKind.SALES_WON, 85, ALL_BANT, Stage.WON),
    (Stage.OPPORTUNITY, EventKind.SALES_WON, 85, ALL_BANT, Stage.WON),
    *[(stage, EventKind.SALES_LOST, 65, Bant(), Stage.LOST) for stage in _OPEN_FROM_MQL],
    *[(stage, EventKind.SALES_REJECTED, 65, Bant(), Stage.NURTURE) for stage in _OPEN_FROM_MQL[:3]],
    (Stage.LOST, EventKind.DEMO_REQUEST, 65, Bant(), Stage.MQL),
    (Stage.LOST, EventKind.EMAIL_CLICK, 20, Bant(), Stage.NURTURE),
]


@pytest.mark.parametrize(
    ("current", "kind", "total", "bant", "expected"),
    LEGAL,
    ids=[f"{c.value}-{k.value}-{t}-{'bant' if b.complete else 'nobant'}" for c, k, t, b, _ in LEGAL],
)
def test_a_legal_transition_moves_the_stage(
    current: Stage, kind: EventKind, total: float, bant: Bant, expected: Stage
) -> None:
    # Given a lead in `current`
    # When `kind` arrives with that total and BANT
    change = next_stage(current, event=event(kind), total=total, bant=bant, model=MODEL)
    # Then it moves to `expected`
    assert (change.stage, change.changed, change.refused) == (expected, True, None)


ILLEGAL = [
    (Stage.WON, EventKind.SALES_REJECTED),
    (Stage.WON, EventKind.SALES_LOST),
    (Stage.WON, EventKind.SALES_BANT),
    (Stage.LOST, EventKind.SALES_ACCEPTED),
    (Stage.LOST, EventKind.SALES_WON),
    (Stage.LEAD, EventKind.SALES_CONTACTED),
    (Stage.LEAD, EventKind.SALES_WON),
    (Stage.LEAD, EventKind.SALES_LOST),
    (Stage.LEAD, EventKind.SALES_REJECTED),
    (Stage.NURTURE, EventKind.SALES_REJECTED),
    (Stage.SQL, EventKind.SALES_ACCEPTED),
    (Stage.SQL, EventKind.SALES_REJECTED),
    (Stage.TQL, EventKind.SALES_MEETING),
    (Stage.OPPORTUNITY, EventKind.SALES_CONTACTED),
]


@pytest.mark.parametrize(("current", "kind"), ILLEGAL, ids=[f"{c.value}-{k.value}" for c, k in ILLEGAL])
def test_an_illegal_transition_is_refused_with_a_reason(current: Stage, kind: EventKind) -> None:
    # Given a lead in `current`
    # When `kind` arrives, even with a high score and full BANT
    change = next_stage(current, event=event(kind), total=95, bant=ALL_BANT, model=MODEL)
    # Then the stage stays and the refusal says why
    assert (change.stage, change.changed) == (current, False)
    assert change.refused is not None
    assert kind.value in change.refused


def test_a_won_lead_cannot_be_rejected_because_won_is_final() -> None:
    # Given a won lead
    # When a rep rejects it
    change = next_stage(Stage.WON, event=event(EventKind.SALES_REJECTED), total=70, bant=Bant(), model=MODEL)
    # Then the refusal names the final stage
    assert change.refused == "sales_rejected refused: the lead is won, which is final for sales feedback"


UNCHANGED = [
    (Stage.LEAD, EventKind.PAGE_VIEW, 10, Bant()),
    (Stage.MQL, EventKind.SALES_BANT, 65, Bant(budget=True)),
    (Stage.MQL, EventKind.DEMO_REQUEST, 85, Bant(need=True)),
    (Stage.SAL, EventKind.PAGE_VIEW, 20, Bant()),
    (Stage.WON, EventKind.DEMO_REQUEST, 90, Bant()),
    (Stage.LOST, EventKind.WEBINAR_NO_SHOW, 90, Bant()),
    (Stage.LOST, EventKind.UNSUBSCRIBE, 90, Bant()),
]


@pytest.mark.parametrize(
    ("current", "kind", "total", "bant"), UNCHANGED, ids=[f"{c.value}-{k.value}" for c, k, _, _ in UNCHANGED]
)
def test_an_event_that_moves_nothing_leaves_the_stage_without_refusal(
    current: Stage, kind: EventKind, total: float, bant: Bant
) -> None:
    # Given a lead in `current`
    # When `kind` arrives
    change = next_stage(current, event=event(kind), total=total, bant=bant, model=MODEL)
    # Then nothing changes and nothing is refused
    assert (change.stage, change.changed, change.refused) == (current, False, None)


def test_a_rejected_lead_stays_in_nurture_despite_its_score() -> None:
    # Given an MQL still scoring 70
    # When sales rejects it
    change = next_stage(Stage.MQL, event=event(EventKind.SALES_REJECTED), total=70, bant=Bant(), model=MODEL)
    # Then it is nurtured, not promoted straight back
    assert change.stage == Stage.NURTURE


def test_decay_below_the_bar_moves_an_mql_to_nurture() -> None:
    # Given an MQL whose score decayed to 55
    # When re-evaluated periodically
    change = next_stage(Stage.MQL, event=None, total=55, bant=Bant(), model=MODEL)
    # Then it goes back to nurture
    assert (change.stage, change.changed) == (Stage.NURTURE, True)


def test_an_mql_still_above_the_bar_stays_on_re_evaluation() -> None:
    # Given an MQL still scoring 61
    # When re-evaluated periodically
    change = next_stage(Stage.MQL, event=None, total=61, bant=Bant(), model=MODEL)
    # Then nothing changes
    assert (change.stage, change.changed) == (Stage.MQL, False)


def test_re_evaluation_does_not_revive_a_nurtured_lead() -> None:
    # Given a nurtured lead scoring 70 (rejected by sales earlier)
    # When re-evaluated periodically
    change = next_stage(Stage.NURTURE, event=None, total=70, bant=Bant(), model=MODEL)
    # Then it waits for new activity
    assert change.stage == Stage.NURTURE


def test_re_evaluation_leaves_a_handed_off_lead_alone() -> None:
    # Given a sales-accepted lead whose score decayed to 10
    # When re-evaluated periodically
    change = next_stage(Stage.SAL, event=None, total=10, bant=Bant(), model=MODEL)
    # Then it stays with sales
    assert change.stage == Stage.SAL


def test_re_evaluation_does_not_recycle_a_lost_lead() -> None:
    # Given a lost lead
    # When re-evaluated periodically
    change = next_stage(Stage.LOST, event=None, total=90, bant=Bant(), model=MODEL)
    # Then it stays lost until the person does something new
    assert change.stage == Stage.LOST


def _merge_every_profile(events: Sequence[LeadEvent]) -> Person | None:
    """The rule spelled out: per field the latest non-empty value, each event's profile merged in turn."""
    ordered = sorted({e.event_id: e for e in sorted(events, key=lambda e: (e.occurred_at, e.event_id))}.values(),
                     key=lambda e: (e.occurred_at, e.event_id))  # fmt: skip
    merged: dict[str, Any] = {}
    people = [e.person for e in ordered if e.person is not None]
    for who in people:
        for field, value in who:
            if value not in (None, "", Seniority.UNKNOWN) or field not in merged:
                merged[field] = value
    return Person.model_validate(merged) if people else None


_PROFILES = [
    None,
    person(),
    person(title="部長", seniority=Seniority.DECISION_MAKER),
    person(company="Sample", employees=300),
    person(name="", industry="software"),
]


@settings(max_examples=100, deadline=None, database=None)
@given(picks=st.lists(st.tuples(st.sampled_from(range(len(_PROFILES))), st.sampled_from(_DAYS_AGO)), max_size=12))
def test_a_merged_profile_is_each_field_s_latest_non_empty_value(picks: list[tuple[int, float]]) -> None:
    # Given events carrying profiles, often the same one again
    events = [
        event(EventKind.PAGE_VIEW, days_ago=days, event_id=f"ev-{n:03d}", who=_PROFILES[index])
        for n, (index, days) in enumerate(picks)
    ]
    # When merged / Then it is what merging every profile in turn gives
    assert merge_profile(events) == _merge_every_profile(events)
