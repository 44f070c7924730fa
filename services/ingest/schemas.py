"""What sources post to ingest: one documented JSON shape per channel."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.events import is_plausible_time
from shared.normalize import normalize_email

_EMAIL_SHAPE = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


def _valid_email(value: str) -> str:
    normalized = normalize_email(value)
    # A NUL or other control character would pass the shape check and then fail every database downstream.
    # isprintable() is False for every Cc and Cf character: the per-character scan runs only when it can find one.
    if not _EMAIL_SHAPE.match(normalized) or (
        not normalized.isprintable() and any(unicodedata.category(ch) in ("Cc", "Cf") for ch in normalized)
    ):
        raise ValueError("not an email address")
    return normalized


Email = Annotated[str, Field(max_length=320), AfterValidator(_valid_email)]
Text = Annotated[str, Field(max_length=500)]
LongText = Annotated[str, Field(max_length=5000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    occurred_at: datetime | None = Field(
        default=None, description="When it happened (ISO 8601); defaults to receipt time."
    )
    event_id: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="The sender's own id; the same id is applied once."
    )

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("occurred_at needs a time zone offset, e.g. 2026-11-23T10:00:00+09:00")
        if not is_plausible_time(value, datetime.now(UTC)):
            raise ValueError("occurred_at is not a plausible time (before 2000, or more than a day ahead)")
        return value


class _PersonBody(_Body):
    email: Email
    name: Text | None = None
    company: Text | None = None
    title: Text | None = None
    phone: Annotated[str, Field(max_length=50)] | None = None
    industry: Text | None = None
    employees: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    country: Annotated[str, Field(max_length=60)] | None = None


class FormEvent(_PersonBody):
    """A web form submission."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "taro.tanaka@example.co.jp",
                    "name": "田中 太郎",
                    "company": "株式会社サンプル",
                    "title": "営業部長",
                    "phone": "03-1234-5678",
                    "industry": "manufacturing",
                    "employees": 500,
                    "country": "JP",
                    "form": "demo_request",
                    "occurred_at": "2026-11-23T10:00:00+09:00",
                }
            ]
        }
    )
    form: Literal["demo_request", "contact", "document_request", "pricing", "newsletter"]
    message: LongText | None = None


class WebinarEvent(_PersonBody):
    """A webinar or seminar registration, attendance, question or consultation request."""

    webinar: Text
    action: Literal["registered", "attended", "no_show", "question", "consultation_request"]
    minutes: Annotated[int, Field(ge=0, le=24 * 60)] | None = None
    question: LongText | None = None


class TradeshowEvent(_PersonBody):
    """A badge scan or business-card exchange at a trade show."""

    show: Text
    action: Literal["badge_scan"] = "badge_scan"
    rating: Literal["hot", "warm", "cold"] | None = None
    notes: LongText | None = None


class BehaviorEvent(_Body):
    """A marketing-automation behaviour webhook."""

    email: Email
    type: Literal["email_open", "email_click", "page_view", "whitepaper_download", "unsubscribe", "bounce"]
    url: Annotated[str, Field(max_length=2000)] | None = None
    bounce_type: Literal["hard", "soft"] | None = None


class BantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    budget: bool = False
    authority: bool = False
    need: bool = False
    timeline: bool = False


class FeedbackEvent(_Body):
    """Sales feedback: accepted, rejected, contacted, BANT learned, meeting, won, lost."""

    email: Email | None = None
    lead_id: Annotated[str, Field(pattern=r"^ld_[0-9a-f]{24}$")] | None = None
    action: Literal["accepted", "rejected", "contacted", "bant", "meeting", "won", "lost"]
    rep: Text | None = None
    reason: LongText | None = None
    bant: BantBody | None = None

    @model_validator(mode="after")
    def _names_the_lead(self) -> FeedbackEvent:
        if self.email is None and self.lead_id is None:
            raise ValueError("feedback needs the lead's email or lead_id")
        return self


class Accepted(BaseModel):
    """The event is durably in Kafka."""

    event_id: str
    lead_id: str


class BatchItem(BaseModel):
    """One event of a batch: its channel and the body that channel's endpoint takes."""

    channel: Annotated[str, Field(max_length=20, description="form | webinar | tradeshow | behavior | feedback")]
    event: dict[str, Any]


class BatchRequest(BaseModel):
    """Mixed events for platforms that stream in bulk (at most MAX_BATCH_EVENTS, 1,000 by default)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {"channel": "form", "event": {"email": "a@example.com", "form": "contact"}},
                        {
                            "channel": "webinar",
                            "event": {"email": "b@example.com", "webinar": "w1", "action": "attended"},
                        },
                    ]
                }
            ]
        }
    )
    events: Annotated[list[BatchItem], Field(min_length=1)]


class BatchItemResult(BaseModel):
    index: int
    status: int = Field(description="202 accepted (or already accepted), 422 rejected")
    event_id: str | None = None
    lead_id: str | None = None
    errors: list[dict[str, str]] | None = None


class BatchResponse(BaseModel):
    accepted: int
    rejected: int
    results: list[BatchItemResult]


class VendorItemResult(BaseModel):
    ref: str = Field(description="Where the item was in the delivery, e.g. 'mautic.form_on_submit/0'")
    event_id: str
    lead_id: str


class SkippedItem(BaseModel):
    ref: str
    reason: str


class VendorResponse(BaseModel):
    """What one vendor delivery became: accepted events, repeats of events already accepted, skipped items."""

    accepted: int
    duplicates: int
    results: list[VendorItemResult]
    skipped: list[SkippedItem]


class RowError(BaseModel):
    row: int = Field(description="Line of the file (the header is line 1)")
    errors: list[dict[str, str]]


class ImportResponse(BaseModel):
    """A CSV import: every good row accepted, every bad row reported with its line and reasons."""

    show: str
    rows: int
    accepted: int
    duplicates: int
    rejected: int
    errors: list[RowError]
    errors_truncated: bool = False
