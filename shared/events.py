"""The event shapes that cross Kafka topics: one contract for all four services.

Every record is a JSON CloudEvent in structured mode, keyed by ``lead_id`` so that one lead's events
stay in order on one partition. ``data`` is one of the payload models below.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

EARLIEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_PLAUSIBLE = datetime(2100, 1, 1, tzinfo=UTC)


def is_plausible_time(at: datetime, now: datetime | None = None, max_ahead: timedelta = timedelta(days=1)) -> bool:
    """Within 2000–2100 and, given ``now``, at most ``max_ahead`` in the future (clock skew between sources)."""
    if at.tzinfo is None or not EARLIEST_PLAUSIBLE <= at < LATEST_PLAUSIBLE:
        return False
    return now is None or at <= now + max_ahead


def _plausible(at: datetime) -> datetime:
    if not is_plausible_time(at):
        raise ValueError("not a plausible time: expected an aware time between 2000 and 2100")
    return at


# Times on the wire: a record claiming the year 9999 is poison, refused when decoded (and so dead-lettered at the
# first consumer) rather than overflowing date arithmetic three services later.
PlausibleTime = Annotated[datetime, AfterValidator(_plausible)]


class Topics:
    """Topic names; partition counts are set when the stack creates them."""

    EVENTS = "leadflow.lead-events.v1"
    SCORED = "leadflow.lead-scored.v1"
    DECISIONS = "leadflow.routing-decisions.v1"
    SLA = "leadflow.sla-events.v1"
    DEAD_LETTER = "leadflow.dead-letter.v1"

    ALL = (EVENTS, SCORED, DECISIONS, SLA, DEAD_LETTER)


class CloudEventType:
    LEAD_EVENT = "io.leadflow.lead.event.v1"
    LEAD_SCORED = "io.leadflow.lead.scored.v1"
    ROUTING_DECISION = "io.leadflow.routing.decision.v1"
    SLA_EVENT = "io.leadflow.sla.event.v1"
    DEAD_LETTER = "io.leadflow.dead-letter.v1"


class Channel(StrEnum):
    WEB_FORM = "web_form"
    WEBINAR = "webinar"
    TRADESHOW = "tradeshow"
    BEHAVIOR = "behavior"
    FEEDBACK = "feedback"


class EventKind(StrEnum):
    """What the person (or the sales rep, for feedback) did. Unique across channels."""

    # web forms
    DEMO_REQUEST = "demo_request"
    CONTACT = "contact"
    DOCUMENT_REQUEST = "document_request"
    PRICING_INQUIRY = "pricing_inquiry"
    NEWSLETTER_SIGNUP = "newsletter_signup"
    # webinars and seminars
    WEBINAR_REGISTERED = "webinar_registered"
    WEBINAR_ATTENDED = "webinar_attended"
    WEBINAR_NO_SHOW = "webinar_no_show"
    WEBINAR_QUESTION = "webinar_question"
    CONSULTATION_REQUEST = "consultation_request"
    # trade shows
    BADGE_SCAN = "badge_scan"
    # marketing-automation behaviour
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    PAGE_VIEW = "page_view"
    WHITEPAPER_DOWNLOAD = "whitepaper_download"
    UNSUBSCRIBE = "unsubscribe"
    BOUNCE = "bounce"
    # sales feedback
    SALES_ACCEPTED = "sales_accepted"
    SALES_REJECTED = "sales_rejected"
    SALES_CONTACTED = "sales_contacted"
    SALES_BANT = "sales_bant"
    SALES_MEETING = "sales_meeting"
    SALES_WON = "sales_won"
    SALES_LOST = "sales_lost"


FORM_KINDS: dict[str, EventKind] = {
    "demo_request": EventKind.DEMO_REQUEST,
    "contact": EventKind.CONTACT,
    "document_request": EventKind.DOCUMENT_REQUEST,
    "pricing": EventKind.PRICING_INQUIRY,
    "newsletter": EventKind.NEWSLETTER_SIGNUP,
}


class Seniority(StrEnum):
    DECISION_MAKER = "decision_maker"
    MANAGER = "manager"
    STAFF = "staff"
    UNKNOWN = "unknown"


class Rank(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class Temperature(StrEnum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


class Stage(StrEnum):
    LEAD = "lead"
    MQL = "mql"
    TQL = "tql"
    SAL = "sal"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    WON = "won"
    LOST = "lost"
    NURTURE = "nurture"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Person(_Model):
    """A lead's attributes as normalized by ingest. ``email`` is personal data: never log it."""

    email: str
    email_domain: str
    name: str | None = None
    company: str | None = None
    company_key: str | None = None
    title: str | None = None
    seniority: Seniority = Seniority.UNKNOWN
    phone: str | None = None
    industry: str | None = None
    employees: int | None = None
    country: str | None = None


class Bant(_Model):
    budget: bool = False
    authority: bool = False
    need: bool = False
    timeline: bool = False

    @property
    def complete(self) -> bool:
        return self.budget and self.authority and self.need and self.timeline

    def merged(self, other: Bant) -> Bant:
        """Facts, once confirmed, stay confirmed."""
        return Bant(
            budget=self.budget or other.budget,
            authority=self.authority or other.authority,
            need=self.need or other.need,
            timeline=self.timeline or other.timeline,
        )


class LeadEvent(_Model):
    """One normalized thing that happened to a lead: the payload of ``Topics.EVENTS``."""

    event_id: str
    lead_id: str
    channel: Channel
    kind: EventKind
    occurred_at: PlausibleTime
    received_at: PlausibleTime
    source: str = Field(description="Which adapter produced it, e.g. 'api:form', 'mautic'.")
    person: Person | None = Field(default=None, description="Absent for feedback naming only lead_id.")
    details: dict[str, Any] = Field(default_factory=dict)


class ScoreReason(_Model):
    """One rule that fired: raw points, value after decay and caps, and the event behind it."""

    rule: str
    label: str
    points: float
    value: float
    event_id: str | None = None
    occurred_at: datetime | None = None


class Activity(_Model):
    kind: EventKind
    channel: Channel
    occurred_at: datetime
    details: dict[str, Any] = Field(default_factory=dict)


class LeadScored(_Model):
    """A lead's state after scoring one event: the payload of ``Topics.SCORED``."""

    lead_id: str
    person: Person | None = None
    fit: float
    intent: float
    total: float
    rank: Rank
    temperature: Temperature
    stage: Stage
    previous_stage: Stage
    reasons: list[ScoreReason]
    bant: Bant = Field(default_factory=Bant)
    trigger: LeadEvent = Field(description="The event that best explains this update (a rank-A action first).")
    new_events: list[LeadEvent] = Field(
        default_factory=list,
        description="Every event applied in this update, in (occurred_at, event_id) order: the router reads "
        "sales feedback (contacted, rejected, …) here, never only the trigger.",
    )
    recent_activity: list[Activity] = Field(default_factory=list)
    model_version: str
    scored_at: PlausibleTime


class RepRef(_Model):
    """Who a lead was given to, with what the notifier needs to reach them."""

    rep_id: str
    name: str
    email: str
    slack_id: str
    timezone: str = "UTC"
    locale: Literal["en", "ja"] = "en"
    manager_slack_id: str | None = None
    manager_email: str | None = None


class SlaKind(StrEnum):
    RANK_A = "rank_a"
    MQL = "mql"
    SQL = "sql"
    SEMINAR_FOLLOW_UP = "seminar_follow_up"


class DecisionKind(StrEnum):
    ASSIGNED = "assigned"
    ACCOUNT_MATCH = "account_match"
    FALLBACK = "fallback"
    REASSIGNED = "reassigned"


class RoutingDecision(_Model):
    """Who owns a lead and by when they must act: the payload of ``Topics.DECISIONS``."""

    decision_id: str
    lead_id: str
    kind: DecisionKind
    owner: RepRef | None = None
    team: str | None = None
    queue: str | None = None
    queue_contact: RepRef | None = Field(default=None, description="Who watches the fallback queue: alerted instead.")
    rule: str
    reason: str = Field(description="One line a rep can read: why this lead, why you.")
    sla_kind: SlaKind
    sla_due_at: PlausibleTime
    lead: LeadScored
    trace: dict[str, Any] = Field(default_factory=dict)
    decided_at: PlausibleTime


class SlaEventKind(StrEnum):
    REMINDER = "reminder"
    BREACH = "breach"


class SlaEvent(_Model):
    """An SLA clock fired: a reminder before the deadline or a breach at it. Payload of ``Topics.SLA``.

    A breach escalates to ``escalate_to`` (the owner's manager, and ``team_channel`` when set); the
    reassignment that follows is a separate RoutingDecision of kind REASSIGNED on ``Topics.DECISIONS``.
    """

    sla_event_id: str = Field(description="Deterministic: decision id + kind + which reminder.")
    kind: SlaEventKind
    decision_id: str
    lead_id: str
    sla_kind: SlaKind
    due_at: PlausibleTime
    fired_at: PlausibleTime
    reminder_fraction: float | None = None
    late_by_seconds: float | None = None
    owner: RepRef | None = None
    escalate_to: RepRef | None = None
    team_channel: str | None = None
    follow_up_attempts: int = 0
    lead: LeadScored


class DeadLetter(_Model):
    topic: str
    partition: int
    offset: int
    key: str | None = None
    error: str
    consumer: str
    raw: str


T = TypeVar("T", bound=BaseModel)


class CloudEvent(BaseModel, Generic[T]):
    """CloudEvents 1.0, structured JSON mode."""

    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    subject: str | None = None
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str | None = Field(default=None, description="Extension: follows one lead end to end.")
    data: T

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))


def decode(raw: bytes, data_model: type[T]) -> CloudEvent[T]:
    """Parse a record's value; raises pydantic.ValidationError or orjson.JSONDecodeError."""
    return CloudEvent[data_model].model_validate_json(raw)  # type: ignore[valid-type]
