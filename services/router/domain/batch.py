"""What one consumer batch reads and changes, kept in memory so the batch loads and writes in bulk.

Pure. The adapter loads every lead of the batch (locked), the reps' open loads, the teams' rotations and the
owners of the accounts the batch may route, once; records are then applied in order against this state,
exactly as if each had read the database after the previous one wrote, and the adapter writes the result
back in a few statements.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from services.router.domain.sla import TimerSpec
from services.router.domain.strategies import RotationState
from shared.events import LeadScored

# Stages in which a lead still holds a place in its owner's capacity (and counts for account matching).
OPEN_STAGES = ("lead", "mql", "tql", "sal", "sql", "opportunity")
_OPEN = frozenset(OPEN_STAGES)


@dataclass(slots=True)
class LeadRow:
    """One lead as the router stores it: the scored projection, ownership and SLA state."""

    lead_id: str
    total: float
    fit: float
    intent: float
    rank: str
    temperature: str
    stage: str
    updated_at: datetime
    company_key: str | None = None
    reasons: Any = None  # not read back: a written row always takes them from ``scored``
    routed: bool = False
    owner_rep_id: str | None = None
    team_id: str | None = None
    queue_id: str | None = None
    decision_id: str | None = None
    sla_kind: str | None = None
    sla_due_at: datetime | None = None
    sla_status: str | None = None
    why: str | None = None
    excluded_rep_ids: list[str] = field(default_factory=list)
    follow_up_attempts: int = 0
    first_contact_at: datetime | None = None
    # The scored update the projection now comes from; its reasons are rendered only when written.
    scored: LeadScored | None = None

    @classmethod
    def from_mapping(cls, row: Mapping[Any, Any]) -> LeadRow:
        return cls(**{name: row[name] for name in _LEAD_FIELDS if name in row})

    def values(self) -> dict[str, Any]:
        """The row as columns (what is written back: only leads this batch projected a scored update on)."""
        if self.scored is None:
            raise ValueError(f"lead {self.lead_id} has no scored update to write back")
        out = {name: getattr(self, name) for name in _LEAD_FIELDS if name != "scored"}
        out["reasons"] = [r.model_dump(mode="json") for r in self.scored.reasons]
        return out

    @property
    def holds(self) -> str | None:
        """The rep whose capacity this lead takes up now, if any."""
        return self.owner_rep_id if self.owner_rep_id and self.stage in _OPEN else None


# The field names, read once: dataclasses.fields() per row was ~3 % of the router's drain in py-spy.
_LEAD_FIELDS = tuple(f.name for f in fields(LeadRow))


@dataclass(frozen=True)
class AccountLead:
    """The most recently updated owned, open lead of an account outside the batch."""

    lead_id: str
    owner_rep_id: str
    updated_at: datetime


@dataclass
class BatchState:
    """The batch's leads, the reps' loads, the rotations and the account owners, as the records change them.

    ``loads`` and ``outside_owners`` are set by the adapter when the batch may route anyone; every change to
    a lead keeps ``loads`` current, so each decision sees the loads a fresh count would give.
    """

    leads: dict[str, LeadRow]
    loads: Counter[str] | None = None
    rotations: dict[str, RotationState] = field(default_factory=dict)
    outside_owners: dict[str, AccountLead] = field(default_factory=dict)
    # What to write back at the next flush.
    dirty: set[str] = field(default_factory=set)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    rotated: set[str] = field(default_factory=set)
    # Order in which leads were last written, so "most recently updated" holds within one clock tick too.
    _written: dict[str, int] = field(default_factory=dict)
    _seq: int = 0

    def project(self, scored: LeadScored, now: datetime) -> LeadRow:
        """Keep the lead's score, rank and stage current (the row is created on its first update)."""
        row = self.leads.get(scored.lead_id)
        company_key = scored.person.company_key if scored.person else None
        if row is None:
            row = LeadRow(
                lead_id=scored.lead_id,
                total=scored.total,
                fit=scored.fit,
                intent=scored.intent,
                rank=scored.rank.value,
                temperature=scored.temperature.value,
                stage=scored.stage.value,
                updated_at=now,
            )
            self.leads[scored.lead_id] = row
        before = row.holds
        row.company_key = company_key
        row.total, row.fit, row.intent = scored.total, scored.fit, scored.intent
        row.rank, row.temperature, row.stage = scored.rank.value, scored.temperature.value, scored.stage.value
        row.updated_at = now
        row.scored = scored
        self._changed(row, before)
        return row

    def set_owner(self, lead_id: str, values: Mapping[str, Any]) -> None:
        """Apply a decision's ownership columns to the lead."""
        row = self.leads[lead_id]
        before = row.holds
        for key, value in values.items():
            setattr(row, key, value)
        self._changed(row, before)

    def replace(self, row: LeadRow) -> None:
        """Take a lead as the database now has it (after a record was applied there, one by one)."""
        old = self.leads.get(row.lead_id)
        self.leads[row.lead_id] = row
        if self.loads is not None:
            self._move(old.holds if old else None, row.holds)
        self._touch(row.lead_id)
        self.dirty.discard(row.lead_id)

    def add_decision(self, row: Mapping[str, Any], timers: Iterable[TimerSpec]) -> None:
        self.decisions.append(dict(row))
        self.timers += [
            {
                "timer_id": spec.timer_id,
                "decision_id": row["decision_id"],
                "lead_id": row["lead_id"],
                "kind": spec.kind.value,
                "fraction": spec.fraction,
                "fire_at": spec.fire_at,
            }
            for spec in timers
        ]

    def save_rotation(self, state: RotationState) -> None:
        self.rotations[state.team_id] = state
        self.rotated.add(state.team_id)

    def account_owner(self, company_key: str | None, lead_id: str) -> str | None:
        """The rep who owns another open lead of the same account, most recently updated first."""
        if not company_key:
            return None
        best: tuple[datetime, int, str] | None = None
        outside = self.outside_owners.get(company_key)
        if outside is not None:
            best = (outside.updated_at, -1, outside.owner_rep_id)
        for row in self.leads.values():
            if row.lead_id == lead_id or row.company_key != company_key or row.holds is None:
                continue
            candidate = (row.updated_at, self._written.get(row.lead_id, -1), row.holds)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
        return best[2] if best is not None else None

    def take_writes(self) -> tuple[list[LeadRow], list[dict[str, Any]], list[dict[str, Any]], list[RotationState]]:
        """What changed since the last call: leads, decisions, timers and rotations to write."""
        out = (
            [self.leads[lead_id] for lead_id in sorted(self.dirty)],
            self.decisions,
            self.timers,
            [self.rotations[team] for team in sorted(self.rotated)],
        )
        self.dirty, self.decisions, self.timers, self.rotated = set(), [], [], set()
        return out

    def _changed(self, row: LeadRow, before: str | None) -> None:
        if self.loads is not None:
            self._move(before, row.holds)
        self._touch(row.lead_id)
        self.dirty.add(row.lead_id)

    def _touch(self, lead_id: str) -> None:
        self._seq += 1
        self._written[lead_id] = self._seq

    def _move(self, before: str | None, after: str | None) -> None:
        assert self.loads is not None
        if before == after:
            return
        if before is not None:
            self.loads[before] -= 1
        if after is not None:
            self.loads[after] += 1
