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
    "Records per processed partition batch",
    ["service", "topic"],
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000),
)
BATCH_LATENCY = Histogram(
    "leadflow_consumer_batch_seconds",
    "Time to apply, publish and commit one partition batch",
    ["service", "topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DEAD_LETTERS = Counter("leadflow_dead_letters_total", "Records sent to the dead-letter topic", ["service", "topic"])
READY = Gauge("leadflow_ready", "1 when the service's Kafka and database checks pass", ["service"])


def batch_observer(service: str) -> Callable[[str, int, float], None]:
    """A ConsumerLoop.on_batch callback recording batch size and latency."""

    def observe(topic: str, size: int, seconds: float) -> None:
        BATCH_SIZE.labels(service, topic).observe(size)
        BATCH_LATENCY.labels(service, topic).observe(seconds)
        CONSUMED.labels(service, topic, "applied").inc(size)

    return observe
