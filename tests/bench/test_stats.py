"""The benchmark's pure arithmetic: percentiles, repeat summaries, open-model schedules, step verdicts."""

from __future__ import annotations

import pytest

from bench.stats import (
    StepVerdict,
    due_count,
    highest_sustained,
    latencies,
    per_thousand,
    percentile,
    ratio,
    request_count,
    scheduled_offset,
    summarize,
    worker_indices,
)


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    # Given ten evenly spaced values / When the 90th percentile is taken / Then it lies between the ranks
    assert percentile([float(v) for v in range(1, 11)], 90) == pytest.approx(9.1)


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([42.0], 99) == 42.0


def test_percentile_does_not_depend_on_input_order() -> None:
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0


def test_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_latency_summary_reports_the_tail_and_the_maximum() -> None:
    # Given 99 fast requests and one stall / When summarized / Then the stall is the max and drags p99 up
    summary = latencies([10.0] * 99 + [500.0])
    assert summary is not None
    assert summary.p50 == 10.0
    assert summary.max == 500.0
    assert summary.p99 > 10.0


def test_latency_summary_of_no_completed_request_is_none() -> None:
    assert latencies([]) is None


def test_repeats_are_summarized_by_median_with_min_and_max() -> None:
    summary = summarize([3.0, 1.0, 2.0])
    assert (summary.median, summary.min, summary.max) == (2.0, 1.0, 3.0)


def test_generator_processes_share_one_evenly_spaced_schedule() -> None:
    # Given 10 requests over 2 processes / When each takes its indices / Then they interleave and cover all
    first, second = worker_indices(0, 2, 10), worker_indices(1, 2, 10)
    assert list(first) == [0, 2, 4, 6, 8]
    assert sorted([*first, *second]) == list(range(10))


def test_requests_are_due_by_the_clock_not_by_responses() -> None:
    # Given 100 requests/s / When the generator wakes 50 ms late / Then every request due by then leaves at once
    indices = worker_indices(0, 1, request_count(100, 1))
    assert due_count(indices, 100, elapsed_s=0.05, sent=0) == 6  # offsets 0, 10, 20, 30, 40, 50 ms
    assert due_count(indices, 100, elapsed_s=0.05, sent=6) == 0


def test_request_offsets_follow_the_rate() -> None:
    assert scheduled_offset(250, 1000) == 0.25


def test_a_rate_offers_rate_times_duration_requests() -> None:
    assert request_count(1500, 2.0) == 3000


def test_highest_sustained_rate_stops_at_the_first_failing_step() -> None:
    # Given a failing step between two good ones / When judged / Then the later success does not count
    steps = [
        (500.0, StepVerdict(True, "sustained")),
        (1000.0, StepVerdict(False, "p99 too high")),
        (2000.0, StepVerdict(True, "sustained")),
    ]
    assert highest_sustained(steps) == 500.0


def test_cpu_per_thousand_events_scales_by_event_count() -> None:
    assert per_thousand(2.0, 4000) == 0.5


def test_cpu_per_thousand_of_no_events_is_unknown() -> None:
    assert per_thousand(2.0, 0) is None


def test_ratio_to_a_missing_reference_is_unknown() -> None:
    assert ratio(10.0, None) is None
    assert ratio(10.0, 40.0) == 0.25
