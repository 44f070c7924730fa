"""Router's business metrics (bounded labels)."""

from prometheus_client import Counter

DECISIONS = Counter("leadflow_routing_decisions_total", "Routing decisions by kind and SLA kind", ["kind", "sla_kind"])
