"""Ingest's business metrics: bounded labels (channel, kind, source, reason), never ids or emails."""

from prometheus_client import Counter

EVENTS = Counter("leadflow_ingest_events_total", "Events accepted (durably in Kafka)", ["channel", "kind"])
DUPLICATES = Counter("leadflow_ingest_duplicates_total", "Events not published again: accepted within the window")
PUBLISH_FAILURES = Counter("leadflow_ingest_publish_failures_total", "Requests answered 503: Kafka unavailable")
IDEMPOTENT_REPLAYS = Counter("leadflow_ingest_idempotent_replays_total", "Answers replayed for an Idempotency-Key")
REJECTED = Counter("leadflow_ingest_rejected_total", "Requests or items refused, by reason", ["source", "reason"])
RATE_LIMITED = Counter("leadflow_ingest_rate_limited_total", "Requests answered 429", ["source"])
HONEYPOT = Counter("leadflow_ingest_honeypot_total", "Browser form posts dropped: the honeypot field was filled")
VENDOR_ITEMS = Counter("leadflow_ingest_vendor_items_total", "Vendor webhook items by outcome", ["vendor", "outcome"])
CSV_ROWS = Counter("leadflow_ingest_csv_rows_total", "Trade-show CSV rows by outcome", ["outcome"])
SHED = Counter("leadflow_ingest_shed_total", "Requests answered 503 at once: MAX_IN_FLIGHT already in progress")
