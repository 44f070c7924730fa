"""The router's pure domain: when a lead is routed, to which team and rep, and by when they must act."""

from services.router.config import OutOfOffice, Rep, RepOverride, RoutingConfig, Rule, Segment, Strategy
from services.router.domain.assignment import ACCOUNT_MATCH_RULE_ID, Assignment, assign, to_rep_ref
from services.router.domain.eligibility import (
    Candidate,
    RepLoad,
    away_reason,
    check_rep,
    effective_rep,
    loads_by_rep,
    on_shift,
)
from services.router.domain.feedback import Feedback, Rejection, meets_clock, met_by, read_feedback, rejecting_rep
from services.router.domain.rules import is_rank_a_action, match_rule, routing_trigger, segment_of
from services.router.domain.seminar import SEMINAR_RULE_ID, attendances, seminar_decision_id, seminar_follow_up
from services.router.domain.simulation import (
    UNASSIGNED_LABEL,
    SimulationReport,
    StoredDecision,
    render_report,
    replay,
)
from services.router.domain.sla import (
    TimerSpec,
    became_sql,
    escalation_channel,
    escalation_contact,
    reassignment_id_for,
    reminder_times,
    sla_due_at,
    sla_timers,
    timer_id_for,
)
from services.router.domain.strategies import RotationState, turn_order

__all__ = [
    "ACCOUNT_MATCH_RULE_ID",
    "SEMINAR_RULE_ID",
    "UNASSIGNED_LABEL",
    "Assignment",
    "Candidate",
    "Feedback",
    "OutOfOffice",
    "Rejection",
    "Rep",
    "RepLoad",
    "RepOverride",
    "RotationState",
    "RoutingConfig",
    "Rule",
    "Segment",
    "SimulationReport",
    "StoredDecision",
    "Strategy",
    "TimerSpec",
    "assign",
    "attendances",
    "away_reason",
    "became_sql",
    "check_rep",
    "effective_rep",
    "escalation_channel",
    "escalation_contact",
    "is_rank_a_action",
    "loads_by_rep",
    "match_rule",
    "meets_clock",
    "met_by",
    "on_shift",
    "read_feedback",
    "reassignment_id_for",
    "rejecting_rep",
    "reminder_times",
    "render_report",
    "replay",
    "routing_trigger",
    "segment_of",
    "seminar_decision_id",
    "seminar_follow_up",
    "sla_due_at",
    "sla_timers",
    "timer_id_for",
    "to_rep_ref",
    "turn_order",
]
