"""docs/asyncapi.yaml is generated from shared/events.py and cannot drift from it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from leadflow.commands.asyncapi import DEFAULT_OUTPUT, build_document, render
from shared.events import Topics


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_the_committed_document_equals_a_fresh_generation() -> None:
    # Given the event models as the code uses them
    # When the document is generated again
    # Then it is byte for byte the committed one (run `leadflow asyncapi` after changing shared/events.py)
    assert DEFAULT_OUTPUT.read_text(encoding="utf-8") == render()


def test_the_document_does_not_depend_on_the_shell_it_is_generated_in(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an operator's environment that renames a notifier group for their own deployment
    monkeypatch.setenv("EMAIL_CONSUMER_GROUP", "acme-notifier-email")
    # When the document is generated there
    # Then it still describes the groups LeadFlow ships with
    assert "acme-notifier-email" not in render()
    assert DEFAULT_OUTPUT.read_text(encoding="utf-8") == render()


def test_every_topic_has_a_channel() -> None:
    channels = build_document()["channels"].values()
    assert sorted(c["address"] for c in channels) == sorted(Topics.ALL)


def test_every_reference_in_the_document_resolves() -> None:
    document = build_document()
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in refs:
        assert _resolve(document, ref) is not None, ref


def test_a_lead_event_payload_describes_the_fields_ingest_sends() -> None:
    document = build_document()
    message = document["components"]["messages"]["LeadEventMessage"]
    envelope = _resolve(document, message["payload"]["$ref"])
    data = _resolve(document, envelope["properties"]["data"]["$ref"])
    assert {"event_id", "lead_id", "channel", "kind", "occurred_at", "received_at"} <= set(data["required"])
    assert envelope["properties"]["specversion"]["const"] == "1.0"


def test_the_document_is_asyncapi_3_yaml() -> None:
    parsed = yaml.safe_load(DEFAULT_OUTPUT.read_text(encoding="utf-8"))
    assert parsed["asyncapi"] == "3.0.0"
    assert {op["action"] for op in parsed["operations"].values()} == {"send", "receive"}
