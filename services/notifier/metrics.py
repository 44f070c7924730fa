"""Notifier's metrics: sends by medium and outcome, latency, and lead-to-alert latency."""

from prometheus_client import Counter, Histogram

SENT = Counter("leadflow_notifications_total", "Notifications by medium and outcome", ["medium", "outcome"])
SEND_LATENCY = Histogram(
    "leadflow_notification_send_seconds",
    "Time for the provider to accept a notification",
    ["medium"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LEAD_TO_ALERT = Histogram(
    "leadflow_lead_to_alert_seconds",
    "From the event's ingest to Slack accepting the alert",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RATE_LIMITED = Counter("leadflow_slack_rate_limited_total", "Slack answers of HTTP 429, by Web API method", ["method"])
PERMANENT_FAILURES = Counter(
    "leadflow_notification_permanent_failures_total",
    "Notifications a provider refused for good (dead-lettered), by medium and kind",
    ["medium", "kind"],
)
INTERACTIONS = Counter(
    "leadflow_slack_interactions_total",
    "Slack interaction requests, by what they were and the outcome",
    ["kind", "outcome"],
)
DELIVERY_CHECKS = Counter(
    "leadflow_slack_delivery_checks_total",
    "Pending Slack messages checked against Slack before a re-send, by what was found",
    ["result"],
)
