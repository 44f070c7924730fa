"""Whether an offered ingest rate counts as sustained."""

from __future__ import annotations

from bench.stats import judge_step


def _judge(**overrides: float) -> tuple[bool, str]:
    values = {
        "offered_rate": 1000.0,
        "achieved_rate": 1000.0,
        "p99_ms": 20.0,
        "errors": 0,
        "generator_late_p99_ms": 1.0,
    } | overrides
    verdict = judge_step(
        offered_rate=values["offered_rate"],
        achieved_rate=values["achieved_rate"],
        p99_ms=values["p99_ms"],
        errors=int(values["errors"]),
        generator_late_p99_ms=values["generator_late_p99_ms"],
        p99_limit_ms=100.0,
        min_achieved_share=0.95,
        generator_late_limit_ms=20.0,
    )
    return verdict.sustained, verdict.reason


def test_a_fast_error_free_step_is_sustained() -> None:
    assert _judge() == (True, "sustained")


def test_a_step_whose_p99_exceeds_the_limit_is_not_sustained() -> None:
    sustained, reason = _judge(p99_ms=150.0)
    assert not sustained
    assert "p99" in reason


def test_any_error_fails_the_step() -> None:
    sustained, reason = _judge(errors=1)
    assert not sustained
    assert "errors" in reason


def test_a_server_that_falls_behind_the_offered_rate_fails_the_step() -> None:
    sustained, reason = _judge(achieved_rate=800.0)
    assert not sustained
    assert "achieved" in reason


def test_a_late_generator_makes_the_step_inconclusive_and_says_so() -> None:
    sustained, reason = _judge(generator_late_p99_ms=50.0)
    assert not sustained
    assert "generator behind" in reason


def test_every_failed_condition_is_named_not_only_the_first() -> None:
    sustained, reason = _judge(errors=3, p99_ms=900.0, generator_late_p99_ms=50.0)
    assert not sustained
    assert all(part in reason for part in ("3 errors", "p99 900.0 ms", "generator behind"))
