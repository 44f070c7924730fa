"""How a team shares leads among its eligible members; deterministic given the persisted rotation state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.router.config import Rep, Strategy


@dataclass(frozen=True)
class RotationState:
    """Where a team's rotation stands; the adapter persists one per team."""

    team_id: str
    last_rep_id: str | None = None
    current_weights: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Pick:
    """The rep a strategy chose, a phrase saying why, and the rotation state to persist."""

    rep_id: str
    why: str
    rotation: RotationState


def turn_order(members: list[str], last_rep_id: str | None) -> list[str]:
    """Members in turn order after ``last_rep_id``; from the top if that rep is no longer a member."""
    # Anchored to a rep id rather than an index, so adding or removing members does not reset anyone's turn.
    start = members.index(last_rep_id) + 1 if last_rep_id in members else 0
    return members[start:] + members[:start]


def _round_robin(members: list[str], eligible: set[str], state: RotationState) -> Pick | None:
    for rep_id in turn_order(members, state.last_rep_id):
        if rep_id in eligible:
            return Pick(rep_id, "round-robin turn", _moved(state, rep_id, state.current_weights))
    return None


def _weighted(members: list[str], eligible: set[str], reps: Mapping[str, Rep], state: RotationState) -> Pick | None:
    # Smooth weighted round-robin (nginx): every eligible rep gains its weight, the highest current weight
    # wins and pays back the total. Ineligible reps gain nothing, so a rep back from leave does not catch up.
    in_play = [m for m in members if m in eligible]
    if not in_play:
        return None
    weights = {m: state.current_weights.get(m, 0) for m in members}
    for rep_id in in_play:
        weights[rep_id] += reps[rep_id].weight
    chosen = max(in_play, key=lambda m: weights[m])  # max keeps the first in member order on ties
    weights[chosen] -= sum(reps[m].weight for m in in_play)
    why = f"weighted turn (weight {reps[chosen].weight} of {sum(reps[m].weight for m in in_play)})"
    return Pick(chosen, why, _moved(state, chosen, weights))


def _least_loaded(
    members: list[str], eligible: set[str], loads: Mapping[str, int], state: RotationState
) -> Pick | None:
    in_turn = [m for m in turn_order(members, state.last_rep_id) if m in eligible]
    if not in_turn:
        return None
    chosen = min(in_turn, key=lambda m: loads.get(m, 0))  # min keeps the earliest turn on ties
    why = f"fewest open leads ({loads.get(chosen, 0)})"
    return Pick(chosen, why, _moved(state, chosen, state.current_weights))


def _moved(state: RotationState, rep_id: str, weights: Mapping[str, int]) -> RotationState:
    return RotationState(team_id=state.team_id, last_rep_id=rep_id, current_weights=dict(weights))


def pick(
    strategy: Strategy,
    *,
    members: list[str],
    eligible: set[str],
    reps: Mapping[str, Rep],
    loads: Mapping[str, int],
    state: RotationState,
) -> Pick | None:
    """The next rep under ``strategy`` among eligible members, or None when nobody is eligible."""
    if strategy is Strategy.ROUND_ROBIN:
        return _round_robin(members, eligible, state)
    if strategy is Strategy.WEIGHTED:
        return _weighted(members, eligible, reps, state)
    return _least_loaded(members, eligible, loads, state)
