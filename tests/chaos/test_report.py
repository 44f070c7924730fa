"""Pure: the chaos verdict fails on any off count, and the JSON says which part failed."""

from __future__ import annotations

from chaos.report import ChaosReport, FaultResult, PoisonResult, format_text
from chaos.tally import StageCount

GOOD = StageCount("slack", expected=3, observed=3, lost=0, duplicated=0)


def _report(**overrides: object) -> ChaosReport:
    values: dict[str, object] = {
        "run": "r", "layout": "test9", "duration_s": 10.0, "stages": [GOOD],
        "faults": [FaultResult("kill-scoring", 3.0, 2.5)],
        "poison": [PoisonResult("t", "invalid-json", "m", True, "scoring", "JSONDecodeError")],
    }  # fmt: skip
    values.update(overrides)
    return ChaosReport(**values)  # type: ignore[arg-type]


def test_a_run_with_every_count_right_passes() -> None:
    report = _report()
    assert report.ok
    assert format_text(report).endswith("PASS: nothing lost, nothing doubled")


def test_a_fault_the_pipeline_never_recovered_from_fails_the_run() -> None:
    report = _report(faults=[FaultResult("kafka-restart", 30.0, None)])
    assert not report.ok
    assert report.to_json()["faults"][0]["ok"] is False


def test_a_poison_record_missing_from_the_dead_letter_topic_fails_the_run() -> None:
    report = _report(poison=[PoisonResult("t", "impossible-values", "m", False)])
    assert not report.ok
    assert "NOT dead-lettered" in format_text(report)


def test_a_doubled_alert_fails_the_run() -> None:
    report = _report(stages=[StageCount("slack", 3, 3, 0, 1)])
    assert not report.ok
    assert report.to_json()["stages"][0]["ok"] is False
