"""What-if: replay stored decisions' inputs against a candidate routing.yaml and count what would change.

Pure: the adapter hands over the stored decisions; the replay keeps its own rotation, loads and account
owners in memory, starting empty, so it answers "how would these leads have been shared under the new
rules" without reading or writing any live state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.router.config import RoutingConfig
from services.router.domain.assignment import assign
from services.router.domain.rules import match_rule
from services.router.domain.strategies import RotationState
from shared.events import LeadScored

UNASSIGNED_LABEL = "(queue)"


@dataclass(frozen=True)
class StoredDecision:
    """One past decision: the scored lead it was made from, when, and where it went."""

    decision_id: str
    lead: LeadScored
    decided_at: datetime
    rep_id: str | None
    team_id: str | None = None  # the fallback queue's id when nobody was eligible
    rule_id: str = ""


@dataclass
class SimulationReport:
    """Per team and rep, how many leads went there then and would go there under the candidate rules."""

    leads: int = 0
    changed: int = 0
    teams_before: Counter[str] = field(default_factory=Counter)
    teams_after: Counter[str] = field(default_factory=Counter)
    reps_before: Counter[str] = field(default_factory=Counter)
    reps_after: Counter[str] = field(default_factory=Counter)
    rules_after: Counter[str] = field(default_factory=Counter)
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)


def replay(decisions: Sequence[StoredDecision], candidate: RoutingConfig) -> SimulationReport:
    """Route each stored lead again, in decision order, under ``candidate``; nothing outside is touched."""
    report = SimulationReport()
    rotations: dict[str, RotationState] = {}
    loads: Counter[str] = Counter()
    account_owners: dict[str, str] = {}
    for stored in sorted(decisions, key=lambda d: (d.decided_at, d.decision_id)):
        scored = stored.lead
        team_id = match_rule(scored, candidate).team
        company = scored.person.company_key if scored.person else None
        result = assign(
            scored,
            candidate,
            now=stored.decided_at,
            loads=loads,
            rotation=rotations.get(team_id),
            account_owner_rep_id=account_owners.get(company) if company else None,
        )
        if result.rotation is not None:
            rotations[result.rotation.team_id] = result.rotation
        after_rep = result.rep.id if result.rep is not None else UNASSIGNED_LABEL
        before_rep = stored.rep_id or UNASSIGNED_LABEL
        if result.rep is not None:
            loads[result.rep.id] += 1
            if company:
                account_owners[company] = result.rep.id
        report.leads += 1
        report.teams_before[stored.team_id or UNASSIGNED_LABEL] += 1
        after_team = result.team_id if result.rep is not None else (result.queue_id or result.team_id)
        report.teams_after[after_team or UNASSIGNED_LABEL] += 1
        report.reps_before[before_rep] += 1
        report.reps_after[after_rep] += 1
        report.rules_after[result.rule_id] += 1
        if before_rep != after_rep:
            report.changed += 1
            report.moves[(before_rep, after_rep)] += 1
    return report


def render_report(report: SimulationReport, *, top_moves: int = 10) -> str:
    """The report as a plain-text table an operator reads in a terminal."""
    lines = [f"Replayed {report.leads} decisions: {report.changed} would change owner."]
    for title, before, after in (
        ("team", report.teams_before, report.teams_after),
        ("rep", report.reps_before, report.reps_after),
    ):
        lines += ["", f"{title:<24} {'before':>7} {'after':>7} {'change':>7}"]
        for name in sorted(set(before) | set(after)):
            delta = after[name] - before[name]
            lines.append(f"{name:<24} {before[name]:>7} {after[name]:>7} {delta:>+7}")
    if report.moves:
        lines += ["", "most common moves (from → to):"]
        for (source, target), count in report.moves.most_common(top_moves):
            lines.append(f"  {source} → {target}: {count}")
    return "\n".join(lines)
