"""Pure: the leads a chaos run sends, each with the outcome known before it is sent.

Two kinds keep the expected outcome beyond doubt under the test routing config:
a VP at a 500-person manufacturer filing a rank-A form (demo, contact, document request) is routed and
alerted exactly once on Slack and once by email; a small company's engineer signing up for the newsletter
only is scored rank C and alerts nobody. Each lead has its own name and domain, so its alerts can be
counted by name and no account match ties two chaos leads together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.normalize import lead_id_for

RANK_A_FORMS = ("demo_request", "contact", "document_request")


class Outcome(StrEnum):
    ALERTED = "alerted"  # routed; one Slack message and one email to the owner
    SILENT = "silent"  # scored rank C; not routed, nobody alerted


@dataclass(frozen=True)
class LeadPlan:
    """One lead of the run: what is posted, and what must come of it."""

    run: str
    seq: int
    outcome: Outcome
    form: str
    resend: bool = False
    canary_for: str | None = None

    @property
    def name(self) -> str:
        return lead_name(self.run, self.seq)

    @property
    def email(self) -> str:
        return f"lead.{self.seq}@chaos-{self.run}-{self.seq}.example.com"

    @property
    def lead_id(self) -> str:
        return lead_id_for(self.email)

    @property
    def client_event_id(self) -> str:
        """The sender's own id: a retry after a timeout or a 503 is the same event, applied once."""
        return f"chaos-{self.run}-{self.seq}"

    def body(self) -> dict[str, Any]:
        """The web-form body posted to ingest."""
        common = {
            "email": self.email,
            "name": self.name,
            "company": f"Chaos Works {self.run} {self.seq}",
            "event_id": self.client_event_id,
            "form": self.form,
            "country": "US",
        }
        if self.outcome is Outcome.ALERTED:
            return {**common, "title": "VP of Sales", "employees": 500, "industry": "manufacturing"}
        return {**common, "title": "Engineer", "employees": 20, "industry": "retail"}


def lead_name(run: str, seq: int) -> str:
    """A person's name that no other lead's name contains: the run tag and a fixed-width sequence number."""
    return f"Chaos {run} {seq:06d}"


def name_pattern(run: str) -> re.Pattern[str]:
    """Finds the sequence numbers of this run's leads in any rendered text."""
    return re.compile(rf"Chaos {re.escape(run)} (\d{{6}})")


def plan_lead(run: str, seq: int, *, rank_a_share: float, resend_share: float) -> LeadPlan:
    """The seq-th lead of a run: a deterministic mix, so two runs with the same settings send the same load."""
    # Spread by a multiplicative hash of seq rather than by blocks, so every fault window sees both kinds.
    spread = (seq * 2654435761 % 2**32) / 2**32
    if spread < rank_a_share:
        return LeadPlan(
            run, seq, Outcome.ALERTED, RANK_A_FORMS[seq % len(RANK_A_FORMS)], resend=_resends(seq, resend_share)
        )
    return LeadPlan(run, seq, Outcome.SILENT, "newsletter", resend=_resends(seq, resend_share))


def canary(run: str, seq: int, scenario: str) -> LeadPlan:
    """A rank-A lead posted right after a fault heals: its Slack message marks the pipeline as recovered."""
    return LeadPlan(run, seq, Outcome.ALERTED, "demo_request", canary_for=scenario)


def _resends(seq: int, share: float) -> bool:
    return (seq * 40503 % 2**16) / 2**16 < share
