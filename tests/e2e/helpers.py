"""Helpers for end-to-end tests: unique people, signed webhooks, reading the stand-ins."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import orjson

from leadflow import stack
from shared.normalize import lead_id_for
from shared.signatures import signed_headers

API_KEY = dict(stack.TEST.env)["INGEST_API_KEYS"].split(",")[0]
WEBHOOK_SECRET = dict(stack.TEST.env)["WEBHOOK_SECRET"]


def unique_person(**overrides: Any) -> dict[str, Any]:
    """A person no other test uses: tests share one stack and must not see each other's leads."""
    tag = uuid.uuid4().hex[:10]
    person = {
        "email": f"jane.{tag}@acme-{tag}.example.com",
        "name": f"Jane Doe {tag}",
        "company": f"Acme Robotics {tag} Inc.",
        "title": "VP of Sales",
        "phone": "+1 415 555 0100",
        "industry": "manufacturing",
        "employees": 500,
        "country": "US",
    }
    person.update(overrides)
    return person


def lead_id(person: dict[str, Any]) -> str:
    return lead_id_for(person["email"])


def signed(body: dict[str, Any], secret: str = WEBHOOK_SECRET, at: int | None = None) -> tuple[bytes, dict[str, str]]:
    """A behaviour webhook body and its X-LeadFlow signature headers."""
    raw = orjson.dumps(body)
    return raw, signed_headers(secret, at if at is not None else int(time.time()), raw)


async def slack_messages_about(http: httpx.AsyncClient, standins: str, needle: str) -> list[dict[str, Any]]:
    """Slack messages the stand-in accepted whose text mentions ``needle`` (a unique name)."""
    response = await http.get(f"{standins}/_standin/slack/messages")
    response.raise_for_status()
    return [m for m in response.json()["messages"] if needle in (m.get("text") or "")]


async def emails_about(http: httpx.AsyncClient, standins: str, needle: str) -> list[dict[str, Any]]:
    response = await http.get(f"{standins}/_standin/mail/messages")
    response.raise_for_status()
    return [m for m in response.json()["messages"] if needle in (m.get("subject") or "") + (m.get("text") or "")]
