"""The router's pure domain: when a lead is routed, to which team and rep, and by when they must act."""

from services.router.config import OutOfOffice, Rep, RepOverride, RoutingConfig, Rule, Segment, Strategy
from services.router.domain.assignment import ACCOUNT_MATCH_RULE_ID, Assignment, assign, to_rep_ref
from services.router.domain.eligibility import (
    Candidate,
    RepLoad,
    check_rep,
    effective_rep,
    loads_by_rep,
    on_shift,
)
from services.router.domain.rules import is_rank_a_action, match_rule, routing_trigger, segment_of
from services.router.domain.sla import reminder_times, sla_due_at
from services.router.domain.strategies import RotationState, turn_order

__all__ = [
    "ACCOUNT_MATCH_RULE_ID",
    "Assignment",
    "Candidate",
    "OutOfOffice",
    "Rep",
    "RepLoad",
    "RepOverride",
    "RotationState",
    "RoutingConfig",
    "Rule",
    "Segment",
    "Strategy",
    "assign",
    "check_rep",
    "effective_rep",
    "is_rank_a_action",
    "loads_by_rep",
    "match_rule",
    "on_shift",
    "reminder_times",
    "routing_trigger",
    "segment_of",
    "sla_due_at",
    "to_rep_ref",
    "turn_order",
]
