"""Router's business metrics (bounded labels: kinds and causes, never lead or rep ids)."""

from prometheus_client import Counter

DECISIONS = Counter("leadflow_routing_decisions_total", "Routing decisions by kind and SLA kind", ["kind", "sla_kind"])
REASSIGNMENTS = Counter("leadflow_routing_reassignments_total", "Leads that changed hands, by cause", ["cause"])
SLA_EVENTS = Counter("leadflow_sla_events_total", "SLA reminders and breaches fired, by SLA kind", ["kind", "sla_kind"])
SLA_STOPPED = Counter(
    "leadflow_sla_clocks_stopped_total", "SLA clocks stopped by first contact, by SLA kind", ["sla_kind"]
)
