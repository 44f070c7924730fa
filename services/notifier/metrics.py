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
