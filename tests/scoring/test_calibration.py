"""Calibration: from leads with sales outcomes to suggested points per rule."""

from __future__ import annotations

import numpy as np
import pytest

from services.scoring.calibration import (
    NotEnoughData,
    RuleInfo,
    Sample,
    auc,
    calibrate,
    fit_logistic,
    rule_catalog,
    sample_of,
)
from shared.events import Channel, EventKind, Rank
from tests.scoring.test_domain import MODEL, event, person

VP = person(seniority="decision_maker", title="VP Sales", employees=500, industry="manufacturing")


def test_the_regression_recovers_known_weights_from_synthetic_outcomes() -> None:
    # Given 20,000 leads whose log-odds of converting are -1 + 2·a - 1·b + 0.5·c
    rng = np.random.default_rng(7)
    x = rng.binomial(1, 0.4, size=(20_000, 3)).astype(float)
    truth = np.array([2.0, -1.0, 0.5])
    y = (rng.random(20_000) < 1 / (1 + np.exp(-(-1.0 + x @ truth)))).astype(float)
    # When a lightly regularised logistic regression is fitted
    intercept, weights = fit_logistic(x, y, l2=0.1)
    # Then it finds the weights and the intercept again
    assert weights == pytest.approx(truth, abs=0.12)
    assert intercept == pytest.approx(-1.0, abs=0.12)


def test_a_stronger_l2_penalty_shrinks_the_weights() -> None:
    # Given outcomes driven by one feature
    rng = np.random.default_rng(3)
    x = rng.binomial(1, 0.5, size=(2_000, 1)).astype(float)
    y = (rng.random(2_000) < np.where(x[:, 0] == 1, 0.8, 0.2)).astype(float)
    # When fitted with a light and a heavy penalty
    _, light = fit_logistic(x, y, l2=0.1)
    _, heavy = fit_logistic(x, y, l2=2_000)
    # Then the heavy penalty pulls the weight towards zero
    assert 0 < heavy[0] < light[0] / 2


def _synthetic_samples(true_points: dict[str, float], per_point: float, n: int, seed: int) -> list[Sample]:
    rng = np.random.default_rng(seed)
    rules = list(true_points)
    current = {info.rule: info.points for info in rule_catalog(MODEL)}
    samples = []
    for i in range(n):
        fired = {rule: 1.0 for rule in rules if rng.random() < 0.35}
        true_score = sum(true_points[r] for r in fired)
        converted = rng.random() < 1 / (1 + np.exp(-(-2.0 + per_point * true_score)))
        samples.append(
            Sample(
                lead_id=f"ld_{i:024x}",
                features=fired,
                score=sum(current[r] for r in fired),
                rank=Rank.A if "intent.demo_request" in fired else Rank.C,
                channel=Channel.WEB_FORM if i % 2 else Channel.WEBINAR,
                converted=bool(converted),
            )
        )
    return samples


def test_calibration_suggests_the_points_the_outcomes_were_generated_with() -> None:
    # Given outcomes generated from a world where webinars are worth 30 points (the model says 15)
    truth = {"intent.demo_request": 40.0, "intent.webinar_attended": 30.0, "fit.industry.target": 10.0}
    samples = _synthetic_samples(truth, per_point=0.05, n=30_000, seed=11)
    # When calibrated
    report = calibrate(samples, rule_catalog(MODEL), holdout=0.25, l2=0.1, min_support=20, mql=60)
    # Then the suggestion for each rule is close to the points it truly had
    suggested = {r.rule: r.suggested for r in report.rules}
    assert suggested["intent.demo_request"] == pytest.approx(40, abs=6)
    assert suggested["intent.webinar_attended"] == pytest.approx(30, abs=6)
    assert suggested["fit.industry.target"] == pytest.approx(10, abs=6)


def test_the_suggested_model_ranks_held_out_leads_better_when_the_current_one_is_wrong() -> None:
    # Given outcomes where webinars matter twice as much as the model says
    truth = {"intent.demo_request": 40.0, "intent.webinar_attended": 60.0}
    samples = _synthetic_samples(truth, per_point=0.05, n=8_000, seed=5)
    # When calibrated
    report = calibrate(samples, rule_catalog(MODEL), holdout=0.3, l2=1.0, min_support=20, mql=60)
    # Then the suggested model's AUC on the held-out leads beats the current one's
    assert report.auc_current is not None
    assert report.auc_suggested is not None
    assert report.auc_suggested > report.auc_current


def test_rules_that_fired_too_rarely_get_no_suggestion() -> None:
    # Given outcomes where no lead ever bounced
    samples = _synthetic_samples({"intent.demo_request": 40.0}, per_point=0.05, n=2_000, seed=1)
    # When calibrated
    report = calibrate(samples, rule_catalog(MODEL), holdout=0.25, l2=1.0, min_support=20, mql=60)
    # Then the bounce rule keeps its points with no suggestion
    bounce = next(r for r in report.rules if r.rule == "intent.bounce")
    assert (bounce.current, bounce.suggested, bounce.leads) == (-50, None, 0)


def test_conversion_is_reported_by_channel_and_by_rank() -> None:
    # Given four leads: two web-form rank A (one converted), two webinar rank C (none converted)
    def sample(i: int, channel: Channel, rank: Rank, converted: bool) -> Sample:
        return Sample(f"ld_{i:024x}", {}, 0.0, rank, channel, converted)

    samples = [
        sample(1, Channel.WEB_FORM, Rank.A, True),
        sample(2, Channel.WEB_FORM, Rank.A, False),
        sample(3, Channel.WEBINAR, Rank.C, False),
        sample(4, Channel.WEBINAR, Rank.C, True),
    ]
    # When calibrated
    report = calibrate(samples, [RuleInfo("intent.x", "x", 1)], holdout=0.01, l2=1.0, min_support=1, mql=60)
    # Then each group shows its leads and conversions
    assert [(c.group, c.leads, c.converted) for c in report.by_channel] == [("web_form", 2, 1), ("webinar", 2, 1)]
    assert [(c.group, c.rate) for c in report.by_rank] == [("A", 0.5), ("C", 0.5)]


def test_leads_of_a_single_outcome_cannot_be_calibrated() -> None:
    # Given only converted leads
    samples = [Sample(f"ld_{i:024x}", {}, 0.0, Rank.A, Channel.WEB_FORM, True) for i in range(50)]
    # When calibrated
    # Then it says there is nothing to fit
    with pytest.raises(NotEnoughData):
        calibrate(samples, rule_catalog(MODEL), holdout=0.25, l2=1.0, min_support=20, mql=60)


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [([3, 2, 1, 0], [1, 1, 0, 0], 1.0), ([0, 1, 2, 3], [1, 1, 0, 0], 0.0), ([1, 1, 1, 1], [1, 0, 1, 0], 0.5)],
)
def test_auc_is_the_chance_a_converter_outscores_a_non_converter(
    scores: list[float], labels: list[int], expected: float
) -> None:
    # Given scores and outcomes
    # When the AUC is computed
    # Then perfect, inverted and tied rankings give 1, 0 and 0.5
    assert auc(np.array(scores, dtype=float), np.array(labels, dtype=float)) == expected


def test_a_lead_without_any_sales_outcome_is_no_sample() -> None:
    # Given a lead that only asked for a demo
    # When turned into a sample
    # Then there is nothing to learn from it yet
    assert sample_of([event(EventKind.DEMO_REQUEST, who=VP)], MODEL) is None


def test_a_sample_holds_what_was_known_when_sales_first_judged_the_lead() -> None:
    # Given a demo request 30 days ago, acceptance 20 days ago, a pricing-page view after it, and a win
    demo = event(EventKind.DEMO_REQUEST, days_ago=30, who=VP)
    accepted = event(EventKind.SALES_ACCEPTED, days_ago=20)
    later = event(EventKind.PAGE_VIEW, days_ago=10, details={"url": "/pricing"})
    won = event(EventKind.SALES_WON, days_ago=1)
    # When turned into a sample
    sample = sample_of([won, later, accepted, demo], MODEL)
    # Then the features stop at the acceptance, the demo decayed over the 10 days before it, and it converted
    assert sample is not None
    assert sample.converted
    assert "intent.pricing_page_view" not in sample.features
    assert sample.features["intent.demo_request"] == pytest.approx(0.5 ** (10 / 90), abs=0.001)
    assert sample.features["fit.seniority.decision_maker"] == 1
    assert sample.channel == Channel.BEHAVIOR  # the helper's events come from the behaviour channel


def test_the_latest_outcome_decides_the_label() -> None:
    # Given a lead accepted by sales and later lost
    events = [
        event(EventKind.DEMO_REQUEST, days_ago=30, who=VP),
        event(EventKind.SALES_ACCEPTED, days_ago=20),
        event(EventKind.SALES_LOST, days_ago=5),
    ]
    # When turned into a sample
    sample = sample_of(events, MODEL)
    # Then it did not convert
    assert sample is not None
    assert not sample.converted


def test_a_rule_worth_zero_points_still_shows_where_it_fires() -> None:
    # Given a newsletter signup (0 points by default) and a rejection
    events = [event(EventKind.NEWSLETTER_SIGNUP, days_ago=2, who=VP), event(EventKind.SALES_REJECTED, days_ago=1)]
    # When turned into a sample
    sample = sample_of(events, MODEL)
    # Then the signup is a feature the regression can weigh, while today's score ignores it
    assert sample is not None
    assert sample.features["intent.newsletter_signup"] > 0
    assert sample.score == 35  # the VP's fit only


def test_when_the_current_points_are_right_the_mql_bar_stays_where_it_is() -> None:
    # Given outcomes generated from exactly the current points
    truth = {"intent.demo_request": 40.0, "intent.webinar_attended": 15.0, "fit.industry.target": 10.0}
    samples = _synthetic_samples(truth, per_point=0.05, n=30_000, seed=2)
    # When calibrated
    report = calibrate(samples, rule_catalog(MODEL), holdout=0.25, l2=0.1, min_support=20, mql=60)
    # Then the suggested MQL bar is today's
    assert report.suggested_mql == pytest.approx(60, abs=5)
