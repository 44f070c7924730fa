"""When a lead is routed, and which territory rule (hence which team) it falls under."""

from __future__ import annotations

from services.router.config import Conditions, RoutingConfig, Rule, Segment, SegmentBounds
from shared.events import LeadScored, SlaKind, Stage
from shared.normalize import clean_text

_UNQUALIFIED = frozenset({Stage.LEAD, Stage.NURTURE})
_QUALIFIED = frozenset({Stage.MQL, Stage.TQL, Stage.SAL, Stage.SQL})


def is_rank_a_action(scored: LeadScored, config: RoutingConfig) -> bool:
    """True when the event that produced this score is one of the configured rank-A actions.

    Only an event applied in this very update counts: a decay re-evaluation or a rescore applies none
    (``new_events`` is empty) and names the lead's latest event as trigger, which may be an old demo request.
    """
    applied = {event.event_id for event in scored.new_events}
    return scored.trigger.kind in config.triggers.rank_a_kinds and scored.trigger.event_id in applied


def routing_trigger(scored: LeadScored, config: RoutingConfig) -> SlaKind | None:
    """The SLA this score starts (a rank-A action, or the lead just became MQL), or None to not route."""
    if is_rank_a_action(scored, config):
        return SlaKind.RANK_A
    if config.triggers.on_mql and scored.stage in _QUALIFIED and scored.previous_stage in _UNQUALIFIED:
        # Qualifying at any stage counts: a lead whose first update makes it SQL (score and all four BANT facts)
        # skips MQL and must still reach sales.
        return SlaKind.MQL
    return None


def segment_of(employees: int | None, bounds: SegmentBounds) -> Segment | None:
    """The company-size segment for a head count, or None when the head count is unknown."""
    if employees is None:
        return None
    if employees >= bounds.enterprise_min:
        return Segment.ENTERPRISE
    if employees >= bounds.mid_min:
        return Segment.MID
    return Segment.SMB


def _industry_key(value: str | None) -> str | None:
    text = clean_text(value)
    return text.casefold() if text else None


def _industry_in(industry: str | None, wanted: list[str]) -> bool:
    key = _industry_key(industry)
    return key is not None and key in {_industry_key(w) for w in wanted}


def _matches(when: Conditions, scored: LeadScored, config: RoutingConfig) -> bool:
    # A condition on an attribute the lead lacks (no country, no head count) does not match: an unknown
    # company is not assumed to be enterprise.
    person = scored.person
    country = person.country.strip().upper() if person and person.country else None
    employees = person.employees if person else None
    checks = (
        when.rank is None or scored.rank in when.rank,
        when.stage is None or scored.stage in when.stage,
        when.channel is None or scored.trigger.channel in when.channel,
        when.country is None or country in when.country,
        when.region is None or (country is not None and config.regions.get(country) in when.region),
        when.segment is None or segment_of(employees, config.segments) in when.segment,
        when.employees_min is None or (employees is not None and employees >= when.employees_min),
        when.employees_max is None or (employees is not None and employees <= when.employees_max),
        when.industry is None or _industry_in(person.industry if person else None, when.industry),
        when.score_min is None or scored.total >= when.score_min,
    )
    return all(checks)


def match_rule(scored: LeadScored, config: RoutingConfig) -> Rule:
    """The first rule whose conditions all hold; the config guarantees the last rule matches everything."""
    for rule in config.rules:
        if _matches(rule.when, scored, config):
            return rule
    return config.rules[-1]
