"""Helpers for hostile-input tests: a person with a hostile name, and every text Slack will render."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import StackUrls, eventually
from tests.e2e.helpers import API_KEY, emails_about, slack_messages_about, unique_person

HEADERS = {"X-API-Key": API_KEY}


def tagged() -> str:
    """A token no other test uses, to find this test's lead among every alert the stack sent."""
    return uuid.uuid4().hex[:12]


async def post_demo_request(http: httpx.AsyncClient, stack_urls: StackUrls, **overrides: Any) -> dict[str, Any]:
    """A rank-A demo request (always alerted under the test routing) with the given fields; returns the body."""
    body = {**unique_person(**overrides), "form": "demo_request"}
    response = await http.post(f"{stack_urls.ingest}/v1/events/form", json=body, headers=HEADERS)
    assert response.status_code == 202, response.text
    return body


async def slack_alert(http: httpx.AsyncClient, stack_urls: StackUrls, needle: str) -> dict[str, Any]:
    """The one Slack message about the lead whose name contains ``needle``, once it arrived."""
    messages = await eventually(lambda: slack_messages_about(http, stack_urls.standins, needle))
    assert len(messages) == 1
    return messages[0]


async def email_alert(http: httpx.AsyncClient, stack_urls: StackUrls, needle: str) -> dict[str, Any]:
    """The one email about the lead whose name contains ``needle``, once it arrived."""
    emails = await eventually(lambda: emails_about(http, stack_urls.standins, needle))
    assert len(emails) == 1
    return emails[0]


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn in a message: the top-level text and every mrkdwn text object."""
    found = [message.get("text") or ""]

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)

    walk(message.get("blocks") or [])
    return found
