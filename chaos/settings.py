"""Every number the chaos run uses, as a default that the command line or the environment can override."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ALL_SCENARIOS = (
    "kill-ingest",
    "kill-scoring",
    "kill-router",
    "kill-notifier",
    "kafka-restart",
    "postgres-restart",
    "slack-429",
    "slack-500",
    "slack-hang",
    "smtp-down",
    "rebalance",
    "poison",
)
# The variant inside `make test`: one crash per stage that holds state, a Slack outage and poison, kept short.
SHORT_SCENARIOS = ("kill-scoring", "kill-notifier", "slack-429", "poison")


class ChaosSettings(BaseSettings):
    """Load, fault durations and patience; ``CHAOS_<NAME>`` in the environment overrides each."""

    model_config = SettingsConfigDict(env_prefix="CHAOS_", extra="ignore")

    scenarios: tuple[str, ...] = ALL_SCENARIOS
    # Load: leads per second, the share that are rank-A (alerted) vs newsletter-only (never alerted), and the
    # share a client posts twice with the same event id (a form platform retrying), which must change nothing.
    rate_per_s: float = Field(default=4.0, gt=0)
    rank_a_share: float = Field(default=0.6, ge=0, le=1)
    resend_share: float = Field(default=0.1, ge=0, le=1)
    # A client keeps retrying one event this long (503 while Kafka is away, connection refused while ingest
    # restarts) before giving up; an event never accepted is "refused", not lost: its sender knows.
    client_patience_s: float = 120.0
    client_timeout_s: float = 10.0
    # Before the first fault and between faults, so each fault starts under a steady flow.
    warmup_s: float = 5.0
    between_faults_s: float = 3.0
    # How long each fault lasts.
    kill_down_s: float = 3.0
    kafka_down_s: float = 30.0
    postgres_down_s: float = 5.0
    smtp_down_s: float = 60.0
    slack_429_count: int = 6
    slack_429_retry_after_s: int = 2
    slack_500_count: int = 6
    # Longer than the notifier's Slack timeout (5 s by default), so its call gives up while Slack still posts.
    slack_hang_s: float = 8.0
    slack_hang_count: int = 1
    # Faults are injected "mid-batch": wait until the consumer's metrics show it is working through records.
    mid_batch_wait_s: float = 10.0
    # Rebalance: a second instance joins each consumer group and one member is killed this long after it starts.
    rebalance_kill_after_s: float = 1.0
    # Recovery: a canary lead posted after the fault heals must reach Slack within this time.
    recovery_timeout_s: float = 180.0
    # At the end: wait this long for every expected alert before counting.
    settle_timeout_s: float = 240.0
    poll_interval_s: float = 0.5
    # Poison written by the "poison" scenario (see chaos/poison.py KINDS).
    poison_kinds: tuple[str, ...] = ("invalid-json", "not-utf8", "unknown-type", "impossible-values")
    output: Path = Path(".cache/chaos/report.json")

    @classmethod
    def short(cls) -> ChaosSettings:
        """The variant for `make test`: four scenarios, short faults, a light load."""
        return cls(
            scenarios=SHORT_SCENARIOS,
            rate_per_s=3.0,
            warmup_s=2.0,
            between_faults_s=1.0,
            kill_down_s=2.0,
            slack_429_count=3,
            slack_429_retry_after_s=1,
            mid_batch_wait_s=5.0,
            recovery_timeout_s=60.0,
            settle_timeout_s=60.0,
            output=Path(".cache/chaos/report-short.json"),
        )
