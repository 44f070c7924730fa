"""The result document's shape and the printed table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench.plan import DEFAULT_TARGETS, Target
from bench.report import RESULT_SCHEMA, Figure, build_result, render_table, write_result

STARTED = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _result() -> dict[str, object]:
    figures = [
        Figure("kafka.java.records_per_s", "Kafka Java", "records/s", (100_000.0, 80_000.0, 120_000.0)),
        Figure(
            "ingest.single.max_sustained_rate",
            "Ingest single",
            "events/s",
            (2000.0, 3000.0, 4000.0),
            ("kafka.java.records_per_s",),
        ),
        Figure("rss.scoring", "Peak RSS scoring", "MB", (180.0,)),
        Figure("alert.p99_ms", "Lead-to-alert p99", "ms", ()),
    ]
    return build_result(
        figures=figures,
        targets=DEFAULT_TARGETS,
        machine={"cores": 2},
        plan={"repeats": 3},
        details={},
        started_at=STARTED,
        finished_at=STARTED,
        notes=["noisy"],
    )


def test_a_figure_carries_median_min_max_and_every_repeat() -> None:
    figure = _result()["figures"]["ingest.single.max_sustained_rate"]  # type: ignore[index]
    assert figure["summary"] == {"median": 3000.0, "min": 2000.0, "max": 4000.0, "values": [2000.0, 3000.0, 4000.0]}


def test_a_figure_is_compared_with_the_issue_target() -> None:
    figure = _result()["figures"]["ingest.single.max_sustained_rate"]  # type: ignore[index]
    assert (figure["target"], figure["target_met"]) == (">= 3000", True)


def test_a_figure_is_shown_as_a_ratio_of_the_raw_kafka_limit_of_the_same_run() -> None:
    figure = _result()["figures"]["ingest.single.max_sustained_rate"]  # type: ignore[index]
    assert figure["ratios"] == {"kafka.java.records_per_s": 0.03}


def test_every_service_is_held_to_the_memory_target() -> None:
    figure = _result()["figures"]["rss.scoring"]  # type: ignore[index]
    assert (figure["target"], figure["target_met"]) == ("< 150", False)


def test_a_figure_that_was_not_measured_has_no_summary_and_no_verdict() -> None:
    figure = _result()["figures"]["alert.p99_ms"]  # type: ignore[index]
    assert (figure["summary"], figure["target_met"]) == (None, None)


def test_the_result_names_its_schema_and_keeps_machine_facts_and_notes() -> None:
    result = _result()
    assert result["schema"] == RESULT_SCHEMA
    assert result["machine"] == {"cores": 2}
    assert result["notes"] == ["noisy"]


def test_the_table_shows_each_figure_with_its_target_verdict() -> None:
    table = render_table(_result())
    line = next(row for row in table.splitlines() if row.startswith("Ingest single"))
    assert "3,000" in line
    assert ">= 3000 ✔" in line


def test_the_result_file_is_named_by_its_start_time(tmp_path: Path) -> None:
    path = write_result(_result(), STARTED, tmp_path)
    assert path.name == "20260501T090000Z.json"
    assert orjson.loads(path.read_bytes())["schema"] == RESULT_SCHEMA


def test_a_share_target_reads_as_a_percentage() -> None:
    assert Target(">=", 1.0).label("share") == ">= 100%"


def test_a_target_compares_with_its_operator() -> None:
    assert Target("<", 50).met(49.9) is True
    assert Target("<", 50).met(50) is False
