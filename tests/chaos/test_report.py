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


def test_an_email_sent_again_under_its_message_id_is_one_email_and_a_reported_retransmission() -> None:
    # Given the SMTP sink holding: lead 1's email twice under one Message-ID (re-sent after a crash), lead 2's
    # email under two different Message-IDs (a real second email)
    from chaos.observe import count_emails
    from chaos.plan import lead_name

    messages = [
        {"message_id": "<a@x>", "subject": f"New lead: {lead_name('r1', 1)}"},
        {"message_id": "<a@x>", "subject": f"New lead: {lead_name('r1', 1)}"},
        {"message_id": "<b@x>", "subject": f"New lead: {lead_name('r1', 2)}"},
        {"message_id": "<c@x>", "subject": f"New lead: {lead_name('r1', 2)}"},
    ]
    # When they are counted as a mailbox shows them
    seen = count_emails(messages, "r1")
    # Then lead 1 has one email and one retransmission is reported; lead 2 has two emails (doubled)
    assert seen.per_lead == {1: 1, 2: 2}
    assert seen.retransmissions == 1


def test_retransmissions_are_printed_without_failing_the_run() -> None:
    report = _report(email_retransmissions=2)
    assert report.ok
    assert "2 SMTP re-transmission(s)" in format_text(report)
    assert report.to_json()["email_retransmissions"] == 2
