"""Parsing what the benchmark reads: Kafka's tool output, /proc, Slack stand-in messages, the workload."""

from __future__ import annotations

import pytest

from bench.alert import alert_figures, first_alert_times, first_record_times, hop_latencies
from bench.kafka_limit import KafkaToolError, parse_producer_performance
from bench.procs import cpu_delta, parse_stat, parse_vm_hwm_kb
from bench.workload import RANK_A, Mix
from shared.events import Topics

PRODUCER_OUTPUT = """\
250001 records sent, 50000.2 records/sec (35.21 MB/sec), 12.3 ms avg latency, 150.0 ms max latency.
500000 records sent, 61234.5 records/sec (43.12 MB/sec), 10.50 ms avg latency, 312.00 ms max latency, \
7 ms 50th, 25 ms 95th, 48 ms 99th, 160 ms 99.9th.
"""


def test_the_producer_summary_line_is_parsed_not_a_progress_line() -> None:
    figures = parse_producer_performance(PRODUCER_OUTPUT)
    assert (figures.records, figures.records_per_s, figures.p99_ms) == (500000, 61234.5, 48.0)


def test_output_without_a_summary_is_a_clear_error() -> None:
    with pytest.raises(KafkaToolError, match="no ProducerPerformance summary"):
        parse_producer_performance("Exception in thread main")


def test_peak_rss_is_read_from_vm_hwm() -> None:
    status = "Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 kB\n"
    assert parse_vm_hwm_kb(status) == 123456


def test_cpu_time_is_user_plus_system_even_when_the_command_name_has_spaces() -> None:
    # Given a stat line whose comm holds a space and a parenthesis / When parsed / Then fields still line up
    stat = "4242 (uvicorn (w) 1) S 4000 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0 100 0 0"
    assert parse_stat(stat, clock_ticks=100) == (4000, 3.0)


def test_a_restarted_process_counts_its_cpu_from_zero() -> None:
    assert cpu_delta({"scoring": 50.0, "kafka": 10.0}, {"scoring": 4.0, "kafka": 12.5}) == {
        "scoring": 4.0,
        "kafka": 2.5,
    }


def test_the_first_message_naming_a_lead_is_its_alert() -> None:
    lead = "ld_" + "a" * 24
    messages = [
        {"received_at": 105.0, "text": "reminder", "blocks": [{"type": "context", "text": f"Lead {lead}"}]},
        {"received_at": 101.0, "text": f"New lead · Lead {lead}", "blocks": None},
        {"received_at": 99.0, "text": "no lead named here"},
    ]
    assert first_alert_times(messages) == {lead: 101.0}


def test_alert_latency_runs_from_the_scheduled_request_and_counts_the_undelivered() -> None:
    # Given two accepted rank-A posts and one refused / When only one alert arrived / Then half were delivered
    rank_a = [("ld_1", 100.0, 202), ("ld_2", 100.0, 202), ("ld_3", 100.0, 503)]
    figures = alert_figures(rank_a, {"ld_1": 100.2})
    assert (figures.owed, figures.delivered, figures.rejected_requests) == (2, 1, 1)
    assert figures.delivered_share == 0.5
    assert figures.latency is not None
    assert figures.latency.max == pytest.approx(200.0)


def test_an_alerts_time_splits_into_hops_between_the_topics_records() -> None:
    # Given one lead seen at every point and one whose decision never came
    records = {
        Topics.EVENTS: {"ld_1": 100.010, "ld_2": 100.020},
        Topics.SCORED: {"ld_1": 100.110, "ld_2": 100.220},
        Topics.DECISIONS: {"ld_1": 100.160},
    }
    hops = hop_latencies([("ld_1", 100.0), ("ld_2", 100.0)], records, {"ld_1": 101.160})
    # Then each hop counts the leads seen at both of its ends
    assert {hop: (h.count, h.max) if h else None for hop, h in hops.items()} == {
        "ingest": (2, pytest.approx(20.0)),
        "scoring": (2, pytest.approx(200.0)),
        "router": (1, pytest.approx(50.0)),
        "notifier": (1, pytest.approx(1000.0)),
    }


async def test_reading_record_times_of_no_partitions_finds_none_without_a_broker() -> None:
    # Given no partition to read (no broker at that address either): nothing is connected, nothing is found
    assert await first_record_times("127.0.0.1:9", {}, {"ld_1"}) == {}


def test_the_mix_is_the_same_for_the_same_seed() -> None:
    first = [p.body for p in Mix(seed=3, run="r", leads=50).stream(20)]
    second = [p.body for p in Mix(seed=3, run="r", leads=50).stream(20)]
    assert first == second


def test_fresh_rank_a_actions_never_share_a_lead_across_generator_processes() -> None:
    # Given two processes drawing rank-A-only posts / When each draws / Then no lead appears twice
    only_rank_a = {kind: 1 for kind in RANK_A}
    emails = [
        post.email
        for worker in (0, 1)
        for post in Mix(
            seed=worker, run="r", leads=10, weights=only_rank_a, fresh_rank_a=True, fresh_start=worker, fresh_step=2
        ).stream(50)
    ]
    assert len(set(emails)) == 100
