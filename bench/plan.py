"""What a benchmark run does, as data: every scale, duration, limit and target is a default here, not a constant
in the phases, so `--quick` and the full run differ only by the plan they are given."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

Op = Literal[">=", "<=", "<", ">", "=="]


@dataclass(frozen=True)
class Target:
    """A figure the issue asks for: compared and shown, never asserted."""

    op: Op
    value: float

    def met(self, measured: float | None) -> bool | None:
        """Whether ``measured`` meets the target (None when nothing was measured)."""
        if measured is None:
            return None
        return {
            ">=": measured >= self.value,
            "<=": measured <= self.value,
            "<": measured < self.value,
            ">": measured > self.value,
            "==": measured == self.value,
        }[self.op]

    def label(self, unit: str = "") -> str:
        """The target as shown, e.g. ``< 250`` or, for a share, ``>= 100%``."""
        return f"{self.op} {self.value * 100:g}%" if unit == "share" else f"{self.op} {self.value:g}"


# The targets for this 2-core machine with everything on it.
DEFAULT_TARGETS: dict[str, Target] = {
    "ingest.single.max_sustained_rate": Target(">=", 3000),
    "ingest.single.p99_at_1000": Target("<", 50),
    "ingest.batch.events_per_s": Target(">=", 30000),
    "drain.scoring.events_per_s": Target(">=", 20000),
    "alert.p99_ms": Target("<", 250),
    "alert.delivered_share": Target(">=", 1.0),
    "rss.service_mb": Target("<", 150),
}


# The most instances of a service the bench runs and looks for (instance N of ingest listens on its port
# + 10 × (N − 1), below the floor app's port).
MAX_INSTANCES = 4

PHASES = ("kafka", "floor", "ingest", "alert", "drain")


@dataclass(frozen=True)
class BenchPlan:
    """Scales and limits of one run."""

    slot: int = 8
    repeats: int = 3
    fresh: bool = True  # start from an empty broker and database, so runs compare
    keep_stack: bool = False
    seed: int = 8
    # Which phases run, in this order (a subset when tuning one figure: ``--phases alert``).
    phases: tuple[str, ...] = PHASES
    # Raw Kafka limit
    kafka_records: int = 500_000
    kafka_latency_rate: int = 1000  # Kafka's own acks=all latency at the rate LeadFlow's latencies are quoted at
    kafka_latency_seconds: float = 10.0
    kafka_heap: str = "256m"
    # The Python floor (bench/floor.py): bare HTTP → Kafka under wrk, bare consume → store → publish
    floor_seconds: float = 20.0
    floor_connections: int = 128
    floor_records: int = 200_000
    floor_leads: int = 20_000
    # Ingest runs as this many instances (how ingest scales, docs/ingest.md); the generators spread their requests
    # over them, as a load balancer would. Every phase uses them; the floor compares one. One by default: on two
    # cores a second instance raised batch ingest but worsened single posts (docs/benchmarks.md, seventh pass).
    ingest_instances: int = 1
    # Ingest, single events: open model, stepped
    ingest_rates: tuple[int, ...] = (250, 500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000)
    ingest_step_seconds: float = 15.0
    ingest_reference_rate: int = 1000
    ingest_p99_limit_ms: float = 100.0
    min_achieved_share: float = 0.95
    generator_late_limit_ms: float = 20.0
    generators: int = 2
    connections_per_generator: int = 256
    request_timeout_s: float = 10.0
    recovery_timeout_s: float = 60.0  # after an overloaded step, until ingest answers quickly again
    warmup_seconds: float = 2.0
    warmup_rate: int = 100
    # Ingest, batch endpoint
    batch_size: int = 1000
    batch_requests: int = 60
    batch_concurrency: int = 4
    # Drain rates
    drain_events: int = 1_000_000
    drain_leads: int = 100_000
    drain_timeout_s: float = 900.0  # per consumer; a slower one is measured on what it drained by then
    # The last consumer of the chain timed (scoring → router → notifier): "scoring" times scoring alone at full
    # scale in ~15 minutes instead of ~45.
    drain_until: str = "notifier"
    lag_poll_s: float = 0.25
    # Lead-to-alert latency
    alert_rate: int = 1000
    alert_seconds: float = 60.0
    alert_background_leads: int = 20_000
    alert_settle_timeout_s: float = 120.0
    # The team routed to (bench/team.py): sized so no rep's Slack channel gets more than Slack's ~1 message a
    # second at 1,000 events/s of the mix (~115 rank-A alerts a second).
    team_reps: int = 240
    targets: dict[str, Target] = field(default_factory=lambda: dict(DEFAULT_TARGETS))

    def with_overrides(self, **changes: object) -> BenchPlan:
        """A copy with the given fields changed; None values are ignored (an option the user left unset)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


FULL = BenchPlan()

# About a minute of measuring (plus the stack's start): the before/after check of a change.
QUICK = BenchPlan(
    repeats=1,
    kafka_records=50_000,
    kafka_latency_seconds=3.0,
    ingest_rates=(250, 500, 1000, 2000),
    ingest_step_seconds=3.0,
    warmup_seconds=1.0,
    batch_requests=6,
    floor_seconds=5.0,
    floor_records=20_000,
    floor_leads=2_000,
    drain_events=10_000,
    drain_leads=1_000,
    drain_timeout_s=60.0,
    alert_rate=200,
    alert_seconds=10.0,
    alert_background_leads=1_000,
    alert_settle_timeout_s=60.0,
)
