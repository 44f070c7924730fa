"""Vendor adapters: a platform's own webhook payload becomes LeadFlow request bodies. Pure functions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from services.ingest.domain import IncomingBody
from shared.events import Channel


@dataclass(frozen=True)
class Translated:
    """One vendor item that became a LeadFlow body."""

    ref: str  # where it was in the delivery, e.g. "mautic.form_on_submit/0": no personal data
    channel: Channel
    body: IncomingBody


@dataclass(frozen=True)
class Skipped:
    """One vendor item that carries no LeadFlow event, or not enough to build one, and why."""

    ref: str
    reason: str


@dataclass
class Translation:
    """What one delivery became."""

    events: list[Translated] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def content_id(vendor: str, event_type: str, item: Any) -> str:
    """A stable id for an item that has none of its own: the hash of its canonical JSON."""
    canonical = orjson.dumps(item, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return f"{vendor}:{event_type}:{hashlib.sha256(canonical).hexdigest()[:32]}"


def validation_reason(exc: ValidationError) -> str:
    """The first field error as 'path: reason', without the offending value (it may be personal data)."""
    err = exc.errors()[0]
    path = "/".join(str(p) for p in err.get("loc", ())) or "body"
    return f"{path}: {err.get('msg', 'invalid')}"
