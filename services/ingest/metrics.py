"""Ingest's business metrics: events by channel and kind (bounded labels)."""

from prometheus_client import Counter

EVENTS = Counter("leadflow_ingest_events_total", "Events accepted (durably in Kafka)", ["channel", "kind"])
PUBLISH_FAILURES = Counter("leadflow_ingest_publish_failures_total", "Requests answered 503: Kafka unavailable")
