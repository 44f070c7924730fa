"""Pure: a lead's new state after a batch of its events, built from the domain functions."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.scoring.domain import compute_score, merge_bant, merge_profile, next_stage
from services.scoring.model import ScoringModel
from shared.events import Activity, Channel, LeadEvent, LeadScored, Stage

RECENT_ACTIVITY = 5


@dataclass(frozen=True)
class StageStep:
    from_stage: Stage
    to_stage: Stage
    event_id: str | None


@dataclass(frozen=True)
class LeadUpdate:
    scored: LeadScored
    steps: tuple[StageStep, ...]
    refused: tuple[tuple[str, str], ...]  # (event kind, why) for transitions the machine refused


def scored_id(lead_id: str, new_event_ids: Sequence[str]) -> str:
    """Deterministic: the same batch of new events always yields the same downstream id."""
    digest = hashlib.sha256("|".join([lead_id, *sorted(new_event_ids)]).encode()).hexdigest()
    return f"sc_{digest[:32]}"


def pick_trigger(new_events: Sequence[LeadEvent], model: ScoringModel) -> LeadEvent:
    """The event that best explains this update: a rank-A action if there is one, else the latest."""
    for event in new_events:
        if any(match.matches_event(event.kind, event.details) for match in model.rank.a):
            return event
    return max(new_events, key=lambda e: (e.occurred_at, e.event_id))


def evaluate_lead(
    *,
    all_events: Sequence[LeadEvent],
    new_events: Sequence[LeadEvent],
    current_stage: Stage,
    model: ScoringModel,
    now: datetime,
) -> LeadUpdate:
    """Recompute score, rank and temperature from every event; walk the stage machine over the new ones."""
    lead_id = new_events[0].lead_id
    person = merge_profile(all_events)
    bant = merge_bant(all_events)
    result = compute_score(person, all_events, model, now)
    stage = current_stage
    steps: list[StageStep] = []
    refused: list[tuple[str, str]] = []
    for event in sorted(new_events, key=lambda e: (e.occurred_at, e.event_id)):
        change = next_stage(stage, event=event, total=result.total, bant=bant, model=model)
        if change.refused:
            refused.append((event.kind.value, change.refused))
        elif change.changed:
            steps.append(StageStep(stage, change.stage, event.event_id))
            stage = change.stage
    activity = sorted(
        (e for e in all_events if e.channel is not Channel.FEEDBACK),
        key=lambda e: (e.occurred_at, e.event_id),
        reverse=True,
    )[:RECENT_ACTIVITY]
    scored = LeadScored(
        lead_id=lead_id,
        person=person,
        fit=result.fit,
        intent=result.intent,
        total=result.total,
        rank=result.rank,
        temperature=result.temperature,
        stage=stage,
        previous_stage=current_stage,
        reasons=list(result.reasons),
        bant=bant,
        trigger=pick_trigger(new_events, model),
        new_events=sorted(new_events, key=lambda e: (e.occurred_at, e.event_id)),
        recent_activity=[
            Activity(kind=e.kind, channel=e.channel, occurred_at=e.occurred_at, details=e.details) for e in activity
        ],
        model_version=model.version,
        scored_at=now,
    )
    return LeadUpdate(scored=scored, steps=tuple(steps), refused=tuple(refused))
