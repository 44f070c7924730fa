"""Token buckets: a burst, then a steady rate, with the wait until the next token."""

from __future__ import annotations

from services.ingest.ratelimit import TokenBuckets


def test_a_burst_is_allowed_and_the_next_request_waits_for_a_token() -> None:
    buckets = TokenBuckets(rate=0.5, burst=3, max_keys=10)
    assert [buckets.take("ip", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("ip", now=100.0) == 2.0


def test_tokens_come_back_with_time() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=10)
    buckets.take("ip", now=0.0)
    assert buckets.take("ip", now=1.0) == 0.0


def test_one_key_over_its_rate_does_not_limit_another() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=10)
    buckets.take("a", now=0.0)
    assert buckets.take("b", now=0.0) == 0.0


def test_a_rate_of_zero_turns_the_limit_off() -> None:
    buckets = TokenBuckets(rate=0, burst=1, max_keys=10)
    assert all(buckets.take("a", now=0.0) == 0.0 for _ in range(100))


def test_the_least_recently_used_key_is_forgotten_beyond_the_maximum() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=2)
    buckets.take("a", now=0.0)
    buckets.take("b", now=0.0)
    buckets.take("c", now=0.0)
    assert buckets.take("a", now=0.0) == 0.0  # "a" was evicted, so it starts with a full bucket
