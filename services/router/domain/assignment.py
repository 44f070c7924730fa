"""Choosing the owner: the account owner first, else a team by rule and a rep by strategy, else a queue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.router.config import Rep, RepOverride, RoutingConfig, Rule, Team
from services.router.domain.eligibility import Candidate, check_rep, check_reps, effective_rep
from services.router.domain.rules import is_rank_a_action, match_rule, routing_trigger
from services.router.domain.strategies import RotationState, pick
from shared.events import DecisionKind, LeadScored, RepRef, Stage

ACCOUNT_MATCH_RULE_ID = "account_match"


@dataclass(frozen=True)
class Assignment:
    """Who gets the lead (a rep, or the fallback queue), why in one line, and the full trace."""

    kind: DecisionKind
    rep: Rep | None
    team_id: str | None
    queue_id: str | None
    rule_id: str
    reason: str
    trace: dict[str, Any]
    rotation: RotationState | None


def _lead_summary(scored: LeadScored, config: RoutingConfig) -> str:
    action = scored.trigger.kind.value.replace("_", " ")
    if is_rank_a_action(scored, config):
        return f"Rank A {action}"
    if scored.stage == Stage.MQL:
        return f"MQL at score {scored.total:.0f} after {action}"
    return f"Rank {scored.rank.value} lead at score {scored.total:.0f} after {action}"


def _candidate_trace(candidate: Candidate, loads: Mapping[str, int]) -> dict[str, Any]:
    return {
        "rep_id": candidate.rep_id,
        "eligible": candidate.eligible,
        "skipped_because": candidate.skipped_because,
        "open_leads": loads.get(candidate.rep_id, 0),
    }


def _rotation_trace(state: RotationState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {"last_rep_id": state.last_rep_id, "current_weights": dict(state.current_weights)}


def _account_owner(
    owner_id: str | None,
    config: RoutingConfig,
    reps: Mapping[str, Rep],
    *,
    now: datetime,
    loads: Mapping[str, int],
    excluded_rep_ids: frozenset[str],
    shift_required: bool,
) -> tuple[Rep | None, dict[str, Any]]:
    trace: dict[str, Any] = {"enabled": config.account_match.enabled, "owner": owner_id}
    if owner_id is None:
        return None, trace | {"outcome": "no existing owner"}
    if not config.account_match.enabled:
        return None, trace | {"outcome": "account matching is off"}
    rep = reps.get(owner_id)
    if rep is None:
        return None, trace | {"outcome": "owner is not in routing.yaml"}
    candidate = check_rep(
        rep,
        now=now,
        open_leads=loads.get(owner_id, 0),
        excluded=owner_id in excluded_rep_ids,
        shift_required=shift_required,
    )
    if not candidate.eligible:
        return None, trace | {"outcome": f"owner skipped: {candidate.skipped_because}"}
    return rep, trace | {"outcome": "owner takes the lead"}


def assign(
    scored: LeadScored,
    config: RoutingConfig,
    *,
    now: datetime,
    loads: Mapping[str, int],
    rotation: RotationState | None,
    account_owner_rep_id: str | None,
    excluded_rep_ids: frozenset[str] = frozenset(),
    rep_overrides: Mapping[str, RepOverride] | None = None,
) -> Assignment:
    """Choose the lead's owner; pass ``rotation`` for the team of ``match_rule(scored, config)``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    overrides = rep_overrides or {}
    reps = {rep.id: effective_rep(rep, overrides.get(rep.id)) for rep in config.reps}
    shift_required = is_rank_a_action(scored, config)
    summary = _lead_summary(scored, config)
    trigger = routing_trigger(scored, config)
    trace: dict[str, Any] = {
        "config_version": config.version,
        "decided_at": now.isoformat(),
        "trigger": trigger.value if trigger else None,
        "on_shift_required": shift_required,
    }

    owner, account_trace = _account_owner(
        account_owner_rep_id,
        config,
        reps,
        now=now,
        loads=loads,
        excluded_rep_ids=excluded_rep_ids,
        shift_required=shift_required,
    )
    trace["account_match"] = account_trace
    if owner is not None:
        trace |= {"decided_by": "account_match", "picked": owner.id}
        return Assignment(
            kind=DecisionKind.ACCOUNT_MATCH,
            rep=owner,
            team_id=owner.team,
            queue_id=None,
            rule_id=ACCOUNT_MATCH_RULE_ID,
            reason=f"{summary} · already owns this account",
            trace=trace,
            rotation=None,
        )

    rule = match_rule(scored, config)
    team = config.team(rule.team)
    return _assign_in_team(
        rule,
        team,
        config,
        reps=reps,
        summary=summary,
        trace=trace,
        now=now,
        loads=loads,
        rotation=rotation,
        excluded_rep_ids=excluded_rep_ids,
        shift_required=shift_required,
    )


def _assign_in_team(
    rule: Rule,
    team: Team,
    config: RoutingConfig,
    *,
    reps: Mapping[str, Rep],
    summary: str,
    trace: dict[str, Any],
    now: datetime,
    loads: Mapping[str, int],
    rotation: RotationState | None,
    excluded_rep_ids: frozenset[str],
    shift_required: bool,
) -> Assignment:
    strategy = rule.strategy or team.strategy
    if rotation is not None and rotation.team_id != team.id:
        # State for another team says nothing about this team's turn order; start this team afresh.
        trace["rotation_ignored"] = f"state given was for team {rotation.team_id}"
        rotation = None
    state = rotation or RotationState(team_id=team.id)
    candidates = check_reps(
        [reps[m] for m in team.members],
        now=now,
        loads=loads,
        excluded_rep_ids=excluded_rep_ids,
        shift_required=shift_required,
    )
    chosen = pick(
        strategy,
        members=team.members,
        eligible={c.rep_id for c in candidates if c.eligible},
        reps=reps,
        loads=loads,
        state=state,
    )
    trace |= {
        "rule": {"id": rule.id, "description": rule.description},
        "team": team.id,
        "strategy": strategy.value,
        "rotation_before": _rotation_trace(rotation),
        "candidates": [_candidate_trace(c, loads) for c in candidates],
    }
    route = f"{summary} · rule {rule.id} → team {team.name}"
    if chosen is None:
        queue = config.fallback_queue
        trace |= {"decided_by": "fallback", "picked": None, "fallback_queue": queue.id}
        return Assignment(
            kind=DecisionKind.FALLBACK,
            rep=None,
            team_id=team.id,
            queue_id=queue.id,
            rule_id=rule.id,
            reason=f"{route} · nobody eligible → {queue.name}",
            trace=trace,
            rotation=None,
        )
    trace |= {"decided_by": "rule", "picked": chosen.rep_id, "why": chosen.why}
    return Assignment(
        kind=DecisionKind.ASSIGNED,
        rep=reps[chosen.rep_id],
        team_id=team.id,
        queue_id=None,
        rule_id=rule.id,
        reason=f"{route} · {chosen.why}",
        trace=trace,
        rotation=chosen.rotation,
    )


def to_rep_ref(rep: Rep, config: RoutingConfig) -> RepRef:
    """What the notifier needs to reach the rep, with their home team's manager for escalations."""
    manager = config.team(rep.team).manager
    return RepRef(
        rep_id=rep.id,
        name=rep.name,
        email=rep.email,
        slack_id=rep.slack_id,
        timezone=rep.timezone,
        locale=rep.locale,
        manager_slack_id=manager.slack_id,
        manager_email=manager.email,
    )
