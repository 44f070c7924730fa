"""The consumer batch's in-memory state: loads follow every change of owner and stage, and the account owner
is the most recently updated open lead of the account, inside the batch or out."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from services.router.domain.batch import AccountLead, BatchState, LeadRow
from shared.events import LeadScored, Person, Rank, Stage, Temperature

T0 = datetime(2031, 3, 5, 10, 0, tzinfo=UTC)


def row(lead_id: str, *, owner: str | None = None, stage: str = "mql", company: str | None = "acme") -> LeadRow:
    return LeadRow(
        lead_id=lead_id, total=50, fit=20, intent=30, rank="B", temperature="warm", stage=stage, updated_at=T0,
        company_key=company, routed=owner is not None, owner_rep_id=owner,
    )  # fmt: skip


def scored(lead_id: str, *, stage: Stage = Stage.MQL, company: str = "acme") -> LeadScored:
    return LeadScored.model_validate(
        {
            "lead_id": lead_id,
            "person": Person(email=f"{lead_id}@example.com", email_domain="example.com", company_key=company),
            "fit": 20, "intent": 30, "total": 50, "rank": Rank.B, "temperature": Temperature.WARM,
            "stage": stage, "previous_stage": stage, "reasons": [],
            "trigger": {"event_id": "e1", "lead_id": lead_id, "channel": "behavior", "kind": "page_view",
                        "occurred_at": T0, "received_at": T0, "source": "test"},
            "new_events": [], "model_version": "test", "scored_at": T0,
        }
    )  # fmt: skip


def test_a_lead_closing_frees_its_owners_capacity() -> None:
    state = BatchState({"a": row("a", owner="rep-1")}, loads=Counter({"rep-1": 3}))
    state.project(scored("a", stage=Stage.WON), T0)
    assert state.loads == Counter({"rep-1": 2})


def test_a_new_owner_takes_capacity_from_the_previous_one() -> None:
    state = BatchState({"a": row("a", owner="rep-1")}, loads=Counter({"rep-1": 1}))
    state.set_owner("a", {"owner_rep_id": "rep-2"})
    assert state.loads == Counter({"rep-1": 0, "rep-2": 1})


def test_a_lead_taken_back_from_the_database_corrects_the_loads() -> None:
    state = BatchState({"a": row("a")}, loads=Counter())
    state.replace(row("a", owner="rep-3"))
    assert state.loads == Counter({"rep-3": 1})


def test_the_account_owner_is_the_most_recently_updated_lead_inside_or_outside_the_batch() -> None:
    state = BatchState({"a": row("a", owner="rep-in"), "new": row("new")})
    state.outside_owners = {"acme": AccountLead("x", "rep-out", T0 + timedelta(seconds=1))}
    assert state.account_owner("acme", "new") == "rep-out"
    state.project(scored("a"), T0 + timedelta(seconds=2))
    assert state.account_owner("acme", "new") == "rep-in"


def test_within_one_clock_tick_the_lead_written_last_is_the_most_recent() -> None:
    state = BatchState({"a": row("a", owner="rep-a"), "b": row("b", owner="rep-b"), "new": row("new")})
    state.project(scored("b"), T0)
    state.project(scored("a"), T0)
    assert state.account_owner("acme", "new") == "rep-a"


def test_a_lead_is_never_its_own_account_owner_nor_a_closed_one() -> None:
    state = BatchState({"a": row("a", owner="rep-a"), "b": row("b", owner="rep-b", stage="lost")})
    assert state.account_owner("acme", "a") is None


def test_only_leads_with_a_new_scored_update_are_written_back() -> None:
    state = BatchState({"a": row("a")})
    with pytest.raises(ValueError, match="no scored update"):
        state.leads["a"].values()
    state.project(scored("a"), T0)
    leads, _, _, _ = state.take_writes()
    assert [lead.values()["lead_id"] for lead in leads] == ["a"]
    assert state.take_writes()[0] == []
