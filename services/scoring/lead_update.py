"""Pure: a lead's new state after a batch of its events, built from the domain functions."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.scoring.domain import event_traits, merge_bant, next_stage, view_lead
from services.scoring.model import ScoringModel
from shared.events import Activity, Channel, LeadEvent, LeadScored, Rank, Stage, Temperature

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
        if event_traits(event, model).rank_a:
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
    view = view_lead(all_events, model, now)
    person, result = view.person, view.result
    bant = merge_bant(view.ordered)
    new_in_order = sorted(new_events, key=lambda e: (e.occurred_at, e.event_id))
    stage = current_stage
    steps: list[StageStep] = []
    refused: list[tuple[str, str]] = []
    for event in new_in_order:
        change = next_stage(stage, event=event, total=result.total, bant=bant, model=model)
        if change.refused:
            refused.append((event.kind.value, change.refused))
        elif change.changed:
            steps.append(StageStep(stage, change.stage, event.event_id))
            stage = change.stage
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
        new_events=new_in_order,
        recent_activity=_recent_activity(view.ordered),
        model_version=model.version,
        scored_at=now,
    )
    return LeadUpdate(scored=scored, steps=tuple(steps), refused=tuple(refused))


def _recent_activity(ordered: Sequence[LeadEvent]) -> list[Activity]:
    """The latest few events the person did (not sales feedback), newest first; ``ordered`` is oldest first."""
    latest: list[LeadEvent] = []
    for e in reversed(ordered):
        if e.channel is not Channel.FEEDBACK:
            latest.append(e)
            if len(latest) == RECENT_ACTIVITY:
                break
    return [Activity(kind=e.kind, channel=e.channel, occurred_at=e.occurred_at, details=e.details) for e in latest]


# ---- re-evaluation: no new event, the clock (decay) or the model changed ---------------------------------

_RANK_ORDER = {Rank.A: 2, Rank.B: 1, Rank.C: 0}
_TEMPERATURE_ORDER = {Temperature.HOT: 2, Temperature.WARM: 1, Temperature.COLD: 0}


class Cause(StrEnum):
    """Why a lead was scored again without a new event."""

    DECAY = "decay"  # the periodic re-evaluation: time passed, intent decayed, windows closed
    MODEL = "model"  # scoring.yaml changed and was reloaded


@dataclass(frozen=True)
class StoredState:
    """What the lead's stored row says about it: the yardstick a re-evaluation compares against."""

    stage: Stage
    rank: Rank
    temperature: Temperature


@dataclass(frozen=True)
class Reevaluation:
    """A lead scored again without a new event, and what crossed a threshold."""

    update: LeadUpdate
    rank_changed: bool
    stage_changed: bool
    temperature_changed: bool
    went_down: bool  # rank, temperature or stage moved down (hot → warm, A → B, MQL → nurture)

    @property
    def crossed(self) -> bool:
        """Whether anything downstream acts on (rank, temperature, stage) changed: this one is published."""
        return self.rank_changed or self.stage_changed or self.temperature_changed


def reevaluated_id(cause: Cause, before: StoredState, after: LeadScored) -> str:
    """Deterministic id of a re-evaluation: the same crossing, same events and model, always the same id."""
    parts = [
        after.lead_id,
        cause.value,
        after.model_version,
        after.trigger.event_id,  # the latest event: a new event in between makes a new crossing
        f"{before.rank.value}/{before.temperature.value}/{before.stage.value}",
        f"{after.rank.value}/{after.temperature.value}/{after.stage.value}",
    ]
    return f"sc_{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:32]}"


def reevaluate_lead(
    *, all_events: Sequence[LeadEvent], stored: StoredState, model: ScoringModel, now: datetime
) -> Reevaluation:
    """Score a lead again from its stored events with no new one: only the automatic stage moves apply.

    The published update names the lead's latest event as ``trigger`` and has an empty ``new_events``:
    that is how a consumer tells "time or the model moved this lead" from "the person did something".
    """
    view = view_lead(all_events, model, now)
    ordered, person, result = view.ordered, view.person, view.result
    latest = ordered[-1]
    bant = merge_bant(ordered)
    change = next_stage(stored.stage, event=None, total=result.total, bant=bant, model=model)
    steps = (StageStep(stored.stage, change.stage, None),) if change.changed else ()
    scored = LeadScored(
        lead_id=latest.lead_id,
        person=person,
        fit=result.fit,
        intent=result.intent,
        total=result.total,
        rank=result.rank,
        temperature=result.temperature,
        stage=change.stage,
        previous_stage=stored.stage,
        reasons=list(result.reasons),
        bant=bant,
        trigger=latest,
        new_events=[],
        recent_activity=_recent_activity(ordered),
        model_version=model.version,
        scored_at=now,
    )
    went_down = (
        _RANK_ORDER[result.rank] < _RANK_ORDER[stored.rank]
        or _TEMPERATURE_ORDER[result.temperature] < _TEMPERATURE_ORDER[stored.temperature]
        or (change.changed and change.stage == Stage.NURTURE)
    )
    return Reevaluation(
        update=LeadUpdate(scored=scored, steps=steps, refused=()),
        rank_changed=result.rank != stored.rank,
        stage_changed=change.changed,
        temperature_changed=result.temperature != stored.temperature,
        went_down=went_down,
    )
