"""Scoring, ranking and the lead lifecycle: pure functions of a lead's events, a model and ``now``.

A lead's result is recomputed from all of its events every time, so it must not depend on the order in
which Kafka delivered them: events are always taken in ``(occurred_at, event_id)`` order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from services.scoring.model import IntentRule, ScoringModel, fold
from shared.events import Bant, EventKind, LeadEvent, Person, Rank, ScoreReason, Seniority, Stage, Temperature

_DAY = timedelta(days=1)

_SENIORITY_LABELS: Mapping[Seniority, str] = {
    Seniority.DECISION_MAKER: "Decision maker",
    Seniority.MANAGER: "Manager",
    Seniority.STAFF: "Staff",
    Seniority.UNKNOWN: "Unknown seniority",
}

# Values a form or a CRM may send for a confirmed BANT fact besides JSON true.
_CONFIRMED = frozenset({"true", "yes", "y", "1", "confirmed", "はい"})


def _order(event: LeadEvent) -> tuple[datetime, str]:
    return (event.occurred_at, event.event_id)


def _in_order(events: Iterable[LeadEvent]) -> list[LeadEvent]:
    """Events by (occurred_at, event_id), a redelivered event_id counted once."""
    unique: dict[str, LeadEvent] = {}
    for event in sorted(events, key=_order):
        unique.setdefault(event.event_id, event)
    return list(unique.values())


def _age_days(event: LeadEvent, now: datetime) -> float:
    # an event stamped in the future (clock skew between sources) is treated as happening now
    return max(0.0, (now - event.occurred_at) / _DAY)


def _is_empty(value: object) -> bool:
    return value is None or value == "" or value == Seniority.UNKNOWN


def merge_profile(events: Sequence[LeadEvent]) -> Person | None:
    """The lead's attributes: per field the latest non-empty value by (occurred_at, event_id)."""
    return _merged_profile(_in_order(events))


def _merged_profile(ordered: Sequence[LeadEvent]) -> Person | None:
    # Field values are read from each model's __dict__ (its fields, in declaration order): pydantic's own
    # iteration and equality are several times slower, and this runs over every event of a lead per update.
    people: list[Person] = []
    last: dict[str, Any] | None = None
    for event in ordered:
        person = event.person
        # the same profile again changes no field: most sources repeat it on every event, so merge it once
        if person is not None and (last is None or person.__dict__ != last):
            people.append(person)
            last = person.__dict__
    if not people:
        return None
    if len(people) == 1:
        return people[0]
    merged: dict[str, Any] = {}
    for person in people:
        for field, value in person.__dict__.items():
            if not _is_empty(value) or field not in merged:
                merged[field] = value
    return Person.model_validate(merged)


def _confirmed(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and fold(value) in _CONFIRMED


def merge_bant(events: Sequence[LeadEvent]) -> Bant:
    """BANT facts from any event's details["bant"] (sales calls, forms); a confirmed fact stays confirmed."""
    bant = Bant()
    for event in events:
        facts = event.details.get("bant")
        if not isinstance(facts, Mapping):
            continue
        learned = {key: _confirmed(facts.get(key)) for key in Bant.model_fields}
        bant = bant.merged(Bant.model_validate(learned))
    return bant


@dataclass(frozen=True)
class ScoreResult:
    """A lead's score; ``reasons`` sorted by abs(value) descending, then rule."""

    fit: float
    intent: float
    total: float
    rank: Rank
    temperature: Temperature
    reasons: tuple[ScoreReason, ...]


def _fit_reasons(person: Person | None, model: ScoringModel) -> list[ScoreReason]:
    if person is None:
        return []
    # exactly the fields read below: two profiles alike in these get the same reasons
    key = (person.seniority, person.title, person.employees, person.industry, person.country, person.email_domain)
    found = model.fit_memo.get(key)
    if found is None:
        found = tuple(_fit_reasons_of(person, model))
        model.fit_memo.put(key, found)
    return list(found)


def _fit_reasons_of(person: Person, model: ScoringModel) -> list[ScoreReason]:
    fit = model.fit
    found: list[tuple[str, str, float]] = []

    seniority_points: float = getattr(fit.seniority, person.seniority.value)
    label = _SENIORITY_LABELS[person.seniority]
    found.append(
        (
            f"fit.seniority.{person.seniority.value}",
            f"{label} ({person.title})" if person.title else label,
            seniority_points,
        )
    )

    if person.employees is not None:
        band = next((band for band in fit.employee_bands if band.contains(person.employees)), None)
        if band is not None:
            span = f"{band.min}+" if band.max is None else f"{band.min}–{band.max}"
            found.append(
                (
                    f"fit.employees.{band.min}_{'plus' if band.max is None else band.max}",
                    f"Company of {span} employees ({person.employees})",
                    band.points,
                )
            )

    if person.industry and fold(person.industry) in fit.target_industries.names:
        found.append(("fit.industry.target", f"Target industry ({person.industry})", fit.target_industries.points))

    if person.country and fold(person.country) in fit.countries:
        country = fold(person.country)
        found.append((f"fit.country.{country}", f"Country ({person.country})", fit.countries[country]))

    domain = fold(person.email_domain)
    for rule in fit.email_domains:
        if domain and rule.matches_domain(domain):
            found.append((f"fit.email.{rule.id}", f"{rule.label} ({domain})", rule.points))

    return [
        ScoreReason(rule=rule, label=label, points=points, value=round(points, model.decimals))
        for rule, label, points in found
        if points != 0
    ]


@dataclass(frozen=True, slots=True)
class EventTraits:
    """What a model says about one event on its own: its intent rule and the rank and temperature lists it is in."""

    rule: IntentRule | None
    rank_a: bool
    rank_b: bool
    engaged: bool
    hot: bool
    warm_or_hot: bool


def event_traits(event: LeadEvent, model: ScoringModel) -> EventTraits:
    """The event's traits under ``model``.

    They depend on its kind and details alone, and most events repeat a few shapes (the same page, the same
    webinar): worked out once per shape and kept with the model, since every update of a lead asks again for
    each event in its history.
    """
    kind, details = event.kind, event.details
    try:
        key = (kind, orjson.dumps(details))
    except TypeError:  # not JSON (only a hand-built event can hold such details): not kept
        return _traits_of(kind, details, model)
    traits: EventTraits | None = model.event_memo.get(key)
    if traits is None:
        traits = _traits_of(kind, details, model)
        model.event_memo.put(key, traits)
    return traits


def _traits_of(kind: EventKind, details: dict[str, Any], model: ScoringModel) -> EventTraits:
    rank, temperature = model.rank, model.temperature
    return EventTraits(
        rule=model.intent.rule_for(kind, details),
        rank_a=rank.a_set.matches(kind, details),
        rank_b=rank.b_set.matches(kind, details),
        engaged=rank.b_engagement.kind_set.matches(kind, details),
        hot=temperature.hot_set.matches(kind, details),
        warm_or_hot=temperature.warm_or_hot_set.matches(kind, details),
    )


@dataclass(frozen=True, slots=True)
class _Seen:
    """One event of a lead as a recompute sees it: the event, its traits and its age in days at ``now``."""

    event: LeadEvent
    traits: EventTraits
    age: float


def _seen(ordered: Sequence[LeadEvent], model: ScoringModel, now: datetime) -> list[_Seen]:
    return [_Seen(event, event_traits(event, model), _age_days(event, now)) for event in ordered]


def _intent_reasons(seen: Sequence[_Seen], model: ScoringModel) -> list[ScoreReason]:
    intent = model.intent
    # per rule, the (occurred_at, points granted) still inside that rule's cap window
    granted: dict[str, deque[tuple[datetime, float]]] = {}
    reasons: list[ScoreReason] = []
    for item in seen:
        rule = item.traits.rule
        if rule is None:
            continue
        event = item.event
        points = _capped_points(rule, event.occurred_at, granted.setdefault(rule.id, deque()))
        if points == 0:
            continue
        decay = 0.5 ** (item.age / intent.half_life_days) if rule.decays else 1.0
        reasons.append(
            ScoreReason(
                rule=f"intent.{rule.id}",
                label=rule.label,
                points=points,
                value=round(points * decay, model.decimals),
                event_id=event.event_id,
                occurred_at=event.occurred_at,
            )
        )
    return reasons


def _capped_points(rule: IntentRule, at: datetime, window: deque[tuple[datetime, float]]) -> float:
    """Points an event gets from ``rule``, given what earlier events (in order) got within the window."""
    if rule.cap is None:
        return rule.points
    start = at - rule.cap.window_days * _DAY
    # events arrive here in ascending time, so what fell out of the window never comes back
    while window and window[0][0] <= start:
        window.popleft()
    points = max(0.0, min(rule.points, rule.cap.points - sum(points for _, points in window)))
    window.append((at, points))
    return points


def _rank(seen: Sequence[_Seen], model: ScoringModel) -> Rank:
    rules = model.rank
    recent = [item for item in seen if item.age <= rules.recency_days]
    if any(item.traits.rank_a for item in recent):
        return Rank.A
    if any(item.traits.rank_b for item in recent):
        return Rank.B
    engagement = rules.b_engagement
    times = [item.event.occurred_at for item in recent if item.traits.engaged]
    span = engagement.window_days * _DAY
    # times are ascending: some min_count consecutive engagements fit inside one window
    first_to_last = zip(times, times[engagement.min_count - 1 :], strict=False)
    if any(last - first <= span for first, last in first_to_last):
        return Rank.B
    return Rank.C


def _temperature(seen: Sequence[_Seen], model: ScoringModel) -> Temperature:
    rules = model.temperature
    if any(item.traits.hot for item in seen if item.age <= rules.hot_days):
        return Temperature.HOT
    # a buying signal past the hot window still shows interest: it cools to warm, not straight to cold
    if any(item.traits.warm_or_hot for item in seen if item.age <= rules.warm_days):
        return Temperature.WARM
    return Temperature.COLD


def _reason_order(reason: ScoreReason) -> tuple[float, str, str]:
    return (-abs(reason.value), reason.rule, reason.event_id or "")


def compute_score(
    person: Person | None, events: Sequence[LeadEvent], model: ScoringModel, now: datetime
) -> ScoreResult:
    """Fit + decayed intent, rank and temperature of a lead; the same for any order of ``events``."""
    return _score_ordered(person, _in_order(events), model, now)


def _score_ordered(
    person: Person | None, ordered: Sequence[LeadEvent], model: ScoringModel, now: datetime
) -> ScoreResult:
    seen = _seen(ordered, model, now)
    fit_reasons = _fit_reasons(person, model)
    intent_reasons = _intent_reasons(seen, model)
    # sum the rounded values so the total is exactly what the listed reasons add up to
    fit = round(sum(reason.value for reason in fit_reasons), model.decimals)
    intent = round(sum(reason.value for reason in intent_reasons), model.decimals)
    return ScoreResult(
        fit=fit,
        intent=intent,
        total=round(fit + intent, model.decimals),
        rank=_rank(seen, model),
        temperature=_temperature(seen, model),
        reasons=tuple(sorted(fit_reasons + intent_reasons, key=_reason_order)),
    )


@dataclass(frozen=True)
class LeadView:
    """A lead's events in (occurred_at, event_id) order, each id once, with the profile and score they give."""

    ordered: tuple[LeadEvent, ...]
    person: Person | None
    result: ScoreResult


def view_lead(events: Iterable[LeadEvent], model: ScoringModel, now: datetime) -> LeadView:
    """Order a lead's events once and derive its profile and score from that one ordering."""
    ordered = tuple(_in_order(events))
    person = _merged_profile(ordered)
    return LeadView(ordered=ordered, person=person, result=_score_ordered(person, ordered, model, now))


def top_reasons(result: ScoreResult, n: int = 3) -> list[ScoreReason]:
    """The ``n`` reasons that weigh most, positive or negative."""
    return list(result.reasons[:n])


# ---- the lead lifecycle ---------------------------------------------------------------------------------

_OPEN_FROM_MQL = (Stage.MQL, Stage.TQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY)
_FINAL = (Stage.WON, Stage.LOST)

# What each sales-feedback kind does, by the stage the lead is in; a stage not listed refuses the event.
# Nothing moves backwards except to nurture; won and lost accept no feedback.
FEEDBACK_TRANSITIONS: Mapping[EventKind, Mapping[Stage, Stage]] = {
    EventKind.SALES_CONTACTED: {Stage.MQL: Stage.TQL},
    EventKind.SALES_ACCEPTED: {Stage.LEAD: Stage.SAL, Stage.MQL: Stage.SAL, Stage.TQL: Stage.SAL},
    EventKind.SALES_MEETING: {Stage.SQL: Stage.OPPORTUNITY},
    EventKind.SALES_WON: {Stage.SQL: Stage.WON, Stage.OPPORTUNITY: Stage.WON},
    EventKind.SALES_LOST: {stage: Stage.LOST for stage in _OPEN_FROM_MQL},
    EventKind.SALES_REJECTED: {Stage.MQL: Stage.NURTURE, Stage.TQL: Stage.NURTURE, Stage.SAL: Stage.NURTURE},
    # BANT facts move the lead through the automatic rules below, from any stage that is not final
    EventKind.SALES_BANT: {stage: stage for stage in Stage if stage not in _FINAL},
}


@dataclass(frozen=True)
class _Facts:
    total: float
    bant_complete: bool
    new_activity: bool
    mql: float
    sql: float


@dataclass(frozen=True)
class _AutoRule:
    sources: frozenset[Stage]
    target: Stage
    applies: Callable[[_Facts], bool]


# Moves that follow from the score and BANT alone, tried in order until none applies.
AUTOMATIC_TRANSITIONS: tuple[_AutoRule, ...] = (
    _AutoRule(frozenset({Stage.LEAD, Stage.MQL}), Stage.SQL, lambda f: f.bant_complete and f.total >= f.sql),
    _AutoRule(frozenset({Stage.TQL, Stage.SAL}), Stage.SQL, lambda f: f.bant_complete),
    _AutoRule(frozenset({Stage.LEAD}), Stage.MQL, lambda f: f.total >= f.mql),
    # a nurtured lead (rejected or recycled) needs something new from the person, or a rejection would be
    # undone by the very score sales just turned down
    _AutoRule(frozenset({Stage.NURTURE}), Stage.MQL, lambda f: f.new_activity and f.total >= f.mql),
    # decay (or a negative signal) took an MQL below the bar before sales touched it
    _AutoRule(frozenset({Stage.MQL}), Stage.NURTURE, lambda f: f.total < f.mql),
)


@dataclass(frozen=True)
class StageChange:
    """The stage after an event; ``refused`` says why an event's transition was illegal (stage unchanged)."""

    stage: Stage
    changed: bool
    refused: str | None = None


def _refusal(kind: EventKind, current: Stage) -> str:
    if current in _FINAL:
        return f"{kind.value} refused: the lead is {current.value}, which is final for sales feedback"
    allowed = ", ".join(stage.value for stage in FEEDBACK_TRANSITIONS[kind])
    return f"{kind.value} refused: it applies to a lead in {allowed}, not {current.value}"


def _is_new_activity(event: LeadEvent, model: ScoringModel) -> bool:
    rule = event_traits(event, model).rule
    return rule is not None and rule.points > 0


def next_stage(
    current: Stage, *, event: LeadEvent | None, total: float, bant: Bant, model: ScoringModel
) -> StageChange:
    """The lead's stage after ``event`` (None: periodic re-evaluation) given its new total and BANT."""
    stage = current
    new_activity = event is not None and _is_new_activity(event, model)
    if event is not None and event.kind in FEEDBACK_TRANSITIONS:
        moves = FEEDBACK_TRANSITIONS[event.kind]
        if current not in moves:
            return StageChange(stage=current, changed=False, refused=_refusal(event.kind, current))
        stage = moves[current]
    elif current == Stage.LOST and new_activity:
        # a lost lead is recycled, not deleted: new scoring activity puts it back in nurture, and from
        # there the score alone decides whether it is an MQL again
        stage = Stage.NURTURE

    facts = _Facts(
        total=total,
        bant_complete=bant.complete,
        new_activity=new_activity,
        mql=model.thresholds.mql,
        sql=model.thresholds.sql,
    )
    # each automatic move goes forward or to nurture, so the walk ends within a few steps
    for _ in Stage:
        rule = next((r for r in AUTOMATIC_TRANSITIONS if stage in r.sources and r.applies(facts)), None)
        if rule is None:
            break
        stage = rule.target
    return StageChange(stage=stage, changed=stage != current)
