"""Scoring's business metrics (bounded labels: stages, ranks; never lead ids)."""

from prometheus_client import Counter

STAGE_TRANSITIONS = Counter(
    "leadflow_stage_transitions_total", "Lifecycle transitions applied", ["from_stage", "to_stage"]
)
REFUSED_TRANSITIONS = Counter("leadflow_stage_transitions_refused_total", "Illegal transitions refused", ["kind"])
SCORED = Counter("leadflow_leads_scored_total", "Lead scorings published, by rank", ["rank"])
REEVALUATED = Counter(
    "leadflow_leads_reevaluated_total",
    "Leads scored again without a new event, by cause (decay, model) and whether a threshold was crossed",
    ["cause", "outcome"],
)
UNREADABLE_EVENTS = Counter(
    "leadflow_scoring_unreadable_events_total",
    "Stored events that no longer validate (stored under older rules) and were left out of scoring",
)
