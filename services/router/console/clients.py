"""HTTP adapters to the services the console reads (scoring, notifier) and acts through (the router's own API).

A service that does not answer makes its part of the page say so; it never turns the page into a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from shared.logging import log_fields

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    """A read from another service: its JSON, or why there is none."""

    data: Any = None
    error: str | None = None


@dataclass(frozen=True)
class ActionResult:
    """What a manager action did, in words for the page."""

    ok: bool
    message: str


class ConsoleClients:
    """One pooled HTTP client for every call the console makes."""

    def __init__(self, *, scoring_url: str, notifier_url: str, router_url: str, timeout_s: float) -> None:
        self.scoring_url = scoring_url.rstrip("/")
        self.notifier_url = notifier_url.rstrip("/")
        self.router_url = router_url.rstrip("/")
        self.http = httpx.AsyncClient(timeout=timeout_s)

    async def close(self) -> None:
        """Release the connection pool."""
        await self.http.aclose()

    async def _get(self, what: str, url: str) -> Fetched:
        try:
            response = await self.http.get(url)
        except httpx.HTTPError as exc:
            log.warning("console read failed", extra=log_fields(source=what, error=type(exc).__name__))
            return Fetched(error=f"{what} did not answer")
        if response.status_code == 404:
            return Fetched(error=f"{what} has nothing for this lead yet")
        if response.status_code != 200:
            return Fetched(error=f"{what} answered {response.status_code}")
        return Fetched(data=response.json())

    async def score(self, lead_id: str) -> Fetched:
        """GET {scoring}/v1/leads/{id}/score: the score explanation and stage history."""
        return await self._get("scoring", f"{self.scoring_url}/v1/leads/{lead_id}/score")

    async def notifications(self, lead_id: str) -> Fetched:
        """GET {notifier}/v1/leads/{id}/notifications: every alert owed for the lead and its delivery status."""
        return await self._get("notifier", f"{self.notifier_url}/v1/leads/{lead_id}/notifications")

    async def rep(self, rep_id: str) -> Fetched:
        """GET {router}/v1/reps/{id}: the rep with runtime changes applied."""
        return await self._get("router", f"{self.router_url}/v1/reps/{rep_id}")

    async def _act(self, method: str, url: str, body: dict[str, Any], done: str) -> ActionResult:
        try:
            response = await self.http.request(method, url, json=body)
        except httpx.HTTPError as exc:
            log.warning("console action failed", extra=log_fields(error=type(exc).__name__))
            return ActionResult(False, "The router did not answer; nothing was changed.")
        if response.status_code in (404, 405) and _route_missing(response):
            return ActionResult(False, f"This router does not offer {method} {url.split('/v1', 1)[-1]} yet.")
        if response.status_code >= 400:
            return ActionResult(False, f"The router refused ({response.status_code}): {_reason(response)}")
        return ActionResult(True, done)

    async def reassign(self, lead_id: str, rep_id: str, reason: str) -> ActionResult:
        """POST {router}/v1/leads/{id}/reassign {rep_id, reason}: hand the lead to another rep."""
        return await self._act(
            "POST",
            f"{self.router_url}/v1/leads/{lead_id}/reassign",
            {"rep_id": rep_id, "reason": reason},
            f"Reassigned to {rep_id}.",
        )

    async def out_of_office(self, rep_id: str, windows: list[dict[str, datetime]]) -> ActionResult:
        """PUT {router}/v1/reps/{id} {out_of_office}: the rep's full list of absences."""
        body = {"out_of_office": [{k: v.isoformat() for k, v in w.items()} for w in windows]}
        return await self._act("PUT", f"{self.router_url}/v1/reps/{rep_id}", body, f"{rep_id} marked out of office.")


def _route_missing(response: httpx.Response) -> bool:
    # A 404 from a missing route says "Not Found"; a 404 for an unknown lead or rep carries our error code.
    try:
        body = response.json()
    except ValueError:
        return True
    return isinstance(body, dict) and body.get("error") in ("Not Found", "Method Not Allowed")


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("error") or body.get("detail") or body)[:200]
    return str(body)[:200]
