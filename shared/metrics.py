"""Prometheus metrics every service shares. Labels are bounded: route templates and topics, never ids."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "leadflow_http_requests_total",
    "HTTP requests by route template and status",
    ["service", "route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "leadflow_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["service", "route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CONSUMED = Counter("leadflow_consumer_records_total", "Records consumed, by outcome", ["service", "topic", "outcome"])
BATCH_SIZE = Histogram(
    "leadflow_consumer_batch_size",
    "Records per processed batch (a fetch's partitions merged, or one partition's share)",
    ["service", "topic"],
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000),
)
BATCH_LATENCY = Histogram(
    "leadflow_consumer_batch_seconds",
    "Time to apply, publish and commit one batch",
    ["service", "topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DEAD_LETTERS = Counter("leadflow_dead_letters_total", "Records sent to the dead-letter topic", ["service", "topic"])
READY = Gauge("leadflow_ready", "1 when the service's Kafka and database checks pass", ["service"])

# --- pipeline health beyond one batch: lag, event age, infrastructure errors -----------------------------------

# Partition numbers are bounded (6 per topic by default), so they are safe as a label; lead ids never are.
CONSUMER_LAG = Gauge(
    "leadflow_consumer_lag",
    "Records not yet processed: partition end offset minus the group's committed offset",
    ["service", "group", "topic", "partition"],
)
CONSUMER_LAG_CHECKS = Counter(
    "leadflow_consumer_lag_checks_total",
    "Lag measurements, by outcome (ok, error): a stuck measurement must not look like zero lag",
    ["service", "outcome"],
)
EVENT_AGE = Histogram(
    "leadflow_consumer_event_age_seconds",
    "From a record's Kafka timestamp to its batch being committed, per consumer",
    ["service", "topic"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
KAFKA_ERRORS = Counter(
    "leadflow_kafka_errors_total",
    "Kafka operations that failed (produce, consume, commit, admin), by error type",
    ["service", "operation", "error"],
)
DB_ERRORS = Counter(
    "leadflow_db_errors_total", "Database operations that failed, by error type", ["service", "operation", "error"]
)

# --- business: bounded by config (stages, ranks, channels, SLA kinds, rep ids), never by lead -------------------

SLA_OUTCOMES = Counter(
    "leadflow_sla_outcomes_total",
    "SLA clocks closed: met (contact logged in time) or breached (window closed), by SLA kind",
    ["sla_kind", "outcome"],
)
TIME_TO_FIRST_CONTACT = Histogram(
    "leadflow_time_to_first_contact_seconds",
    "From routing to the owner's first logged contact, by SLA kind",
    ["sla_kind"],
    buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800),
)
CONVERSIONS = Counter(
    "leadflow_conversions_total",
    "Sales outcomes by the lead's first-touch channel (accepted, rejected, meeting, won, lost)",
    ["channel", "outcome"],
)
LEADS_BY_STAGE = Gauge("leadflow_leads", "Leads known to the router, by lifecycle stage and rank", ["stage", "rank"])
OPEN_LEADS = Gauge(
    "leadflow_rep_open_leads", "Open leads owned by each rep (rep ids come from routing.yaml)", ["team", "rep"]
)
REP_CAPACITY = Gauge("leadflow_rep_capacity", "Most open leads a rep may hold", ["team", "rep"])
SLA_OPEN = Gauge(
    "leadflow_sla_open", "Open SLA clocks by kind, and how many are already past due", ["sla_kind", "state"]
)
NOTIFICATION_FAILURES = Counter(
    "leadflow_notification_failures_total",
    "Notifications that failed, by medium (slack, email) and a bounded reason (rate_limited, invalid_auth, …)",
    ["medium", "reason"],
)


def batch_observer(service: str) -> Callable[[str, int, float], None]:
    """A ConsumerLoop.on_batch callback recording batch size and latency."""

    def observe(topic: str, size: int, seconds: float) -> None:
        BATCH_SIZE.labels(service, topic).observe(size)
        BATCH_LATENCY.labels(service, topic).observe(seconds)
        CONSUMED.labels(service, topic, "applied").inc(size)

    return observe
