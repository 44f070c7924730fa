"""Pure: expected vs. observed for each stage of the pipeline, with lost and duplicated counted per lead."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from chaos.plan import LeadPlan, Outcome


@dataclass(frozen=True)
class StageCount:
    """One stage's books: what should have happened, what did, and the difference in both directions."""

    stage: str
    expected: int
    observed: int
    lost: int
    duplicated: int
    unexpected: int = 0  # happened for a lead that should not have had it (a newsletter lead alerted)
    lost_samples: tuple[str, ...] = ()
    duplicated_samples: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.unexpected == 0


@dataclass(frozen=True)
class Observed:
    """What the stack shows at the end, per lead (by lead id) or per sequence number (alerts found by name)."""

    accepted: Mapping[int, str]  # seq → event id ingest answered 202 with
    scored: Mapping[str, int]  # lead id → times its event counts in the lead's score (0: never scored)
    decisions: Mapping[str, int]  # lead id → routing decisions made for it
    slack: Mapping[int, int]  # seq → Slack messages naming the lead
    email: Mapping[int, int]  # seq → emails naming the lead, by Message-ID (as a mailbox shows them)
    refused: frozenset[int] = field(default_factory=frozenset)  # seqs never accepted within the client's patience
    # Resends (the same body and event id posted again) that ingest answered with a different event id: the
    # same submission would be applied twice downstream.
    resend_mismatches: int = 0
    # SMTP copies of a message already delivered (same Message-ID): reported, see chaos/observe.py email_counts
    email_retransmissions: int = 0


SAMPLES = 5


def tally(plans: Iterable[LeadPlan], seen: Observed) -> list[StageCount]:
    """Count every stage; a lead that was never accepted is not expected downstream (its sender was told)."""
    plans = list(plans)
    accepted = [p for p in plans if p.seq in seen.accepted]
    alerted = [p for p in accepted if p.outcome is Outcome.ALERTED]
    silent = [p for p in accepted if p.outcome is Outcome.SILENT]
    return [
        StageCount(
            "accepted",
            expected=len(plans),
            observed=len(accepted),
            lost=len([p for p in plans if p.seq in seen.refused]),
            duplicated=seen.resend_mismatches + len(accepted) - len(set(seen.accepted.values())),
            lost_samples=_samples(p.lead_id for p in plans if p.seq in seen.refused),
        ),
        _per_lead("scored", accepted, [], {p.lead_id: seen.scored.get(p.lead_id, 0) for p in accepted}),
        _per_lead("routed", alerted, silent, {p.lead_id: seen.decisions.get(p.lead_id, 0) for p in accepted}),
        _per_lead("slack", alerted, silent, {p.lead_id: seen.slack.get(p.seq, 0) for p in accepted}),
        _per_lead("email", alerted, silent, {p.lead_id: seen.email.get(p.seq, 0) for p in accepted}),
    ]


def _per_lead(stage: str, wanted: list[LeadPlan], unwanted: list[LeadPlan], times: Mapping[str, int]) -> StageCount:
    """Each wanted lead must show exactly once; each unwanted lead never."""
    lost = [p.lead_id for p in wanted if times.get(p.lead_id, 0) == 0]
    doubled = [p.lead_id for p in wanted if times.get(p.lead_id, 0) > 1]
    extra = [p.lead_id for p in unwanted if times.get(p.lead_id, 0) > 0]
    return StageCount(
        stage,
        expected=len(wanted),
        observed=sum(1 for p in wanted if times.get(p.lead_id, 0) > 0),
        lost=len(lost),
        duplicated=sum(times[lid] - 1 for lid in doubled),
        unexpected=sum(times[lid] for lid in extra),
        lost_samples=_samples(lost),
        duplicated_samples=_samples(doubled + extra),
    )


def _samples(lead_ids: Iterable[str]) -> tuple[str, ...]:
    # A few lead ids (opaque hashes, never emails) to start an investigation from.
    return tuple(sorted(lead_ids))[:SAMPLES]
