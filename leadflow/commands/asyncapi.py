"""`leadflow asyncapi`: the AsyncAPI 3 document of LeadFlow's Kafka topics, generated from shared/events.py.

The payload schemas come from the same pydantic models the services encode and decode with, so the document
cannot drift from the code: tests/observability/test_asyncapi.py fails when docs/asyncapi.yaml differs from a
fresh generation (run `leadflow asyncapi` to refresh it).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.events import (
    CloudEvent,
    CloudEventType,
    DeadLetter,
    LeadEvent,
    LeadScored,
    RoutingDecision,
    SlaEvent,
    Topics,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = ROOT / "docs" / "asyncapi.yaml"
REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class TopicSpec:
    """One topic: what it carries, who writes it and who reads it."""

    address: str
    channel: str
    message: str
    payload: type[BaseModel]
    cloudevent_type: str
    summary: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]


ALL_CONSUMERS = ("scoring", "router", "notifier")


def consumer_groups(service: str, topic: str) -> list[str]:
    """The groups a service reads a topic in: its settings' defaults (the notifier reads SLA events apart, and
    each topic once for Slack and once for email)."""
    from services.notifier.settings import default_consumer_groups

    if service == "notifier":
        return [group for t, group, _ in default_consumer_groups() if t == topic]
    return [f"leadflow-{service}"]


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        Topics.EVENTS, "leadEvents", "LeadEventMessage", LeadEvent, CloudEventType.LEAD_EVENT,
        "One normalized thing that happened to a lead (form, webinar, trade show, behaviour, sales feedback).",
        ("ingest", "notifier"), ("scoring",),
    ),
    TopicSpec(
        Topics.SCORED, "leadScored", "LeadScoredMessage", LeadScored, CloudEventType.LEAD_SCORED,
        "A lead's score, rank, temperature and stage after scoring, with every reason.",
        ("scoring",), ("router",),
    ),
    TopicSpec(
        Topics.DECISIONS, "routingDecisions", "RoutingDecisionMessage", RoutingDecision,
        CloudEventType.ROUTING_DECISION,
        "Who owns a lead, by when they must act, and the routing trace.",
        ("router",), ("notifier",),
    ),
    TopicSpec(
        Topics.SLA, "slaEvents", "SlaEventMessage", SlaEvent, CloudEventType.SLA_EVENT,
        "An SLA clock fired: a reminder before the deadline or a breach at it.",
        ("router",), ("notifier",),
    ),
    TopicSpec(
        Topics.DEAD_LETTER, "deadLetter", "DeadLetterMessage", DeadLetter, CloudEventType.DEAD_LETTER,
        "A record that can never be processed, with its coordinates, the error and the raw value.",
        ALL_CONSUMERS, (),
    ),
)  # fmt: skip


def _schemas() -> dict[str, Any]:
    """JSON Schemas of every CloudEvent envelope and payload, with refs into components/schemas."""
    envelopes = [(CloudEvent[spec.payload], "validation") for spec in TOPICS]  # type: ignore[name-defined]
    _, defs = models_json_schema(envelopes, ref_template=REF)  # type: ignore[arg-type]
    return dict(sorted(defs.get("$defs", {}).items()))


def _envelope_name(spec: TopicSpec) -> str:
    return CloudEvent[spec.payload].__name__  # type: ignore[name-defined]


def _message(spec: TopicSpec, schemas: dict[str, Any]) -> dict[str, Any]:
    name = _envelope_name(spec)
    key = next(k for k in schemas if k == name or k == name.replace("[", "_").replace("]", "_"))
    return {
        "name": spec.message,
        "title": spec.payload.__name__,
        "summary": spec.summary,
        "contentType": "application/cloudevents+json",
        "headers": {"$ref": "#/components/schemas/KafkaHeaders"},
        "payload": {"$ref": REF.format(model=key)},
        "correlationId": {"$ref": "#/components/correlationIds/correlationId"},
        "bindings": {"kafka": {"key": {"type": "string", "pattern": "^ld_[0-9a-f]{24}$"}, "bindingVersion": "0.5.0"}},
        "x-cloudevents-type": spec.cloudevent_type,
    }


def build_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document, as plain data in a stable order."""
    schemas = _schemas()
    schemas["KafkaHeaders"] = {
        "type": "object",
        "description": "Kafka record headers (UTF-8 text).",
        "properties": {
            "correlation_id": {"type": "string", "description": "Follows one lead from ingest to notifier."},
            "ce_type": {"type": "string", "description": "The CloudEvent type, for routing without parsing."},
        },
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in TOPICS:
        messages[spec.message] = _message(spec, schemas)
        channels[spec.channel] = {
            "address": spec.address,
            "description": f"{spec.summary} Keyed by lead_id, so one lead's records stay in order.",
            "messages": {spec.message: {"$ref": f"#/components/messages/{spec.message}"}},
            "bindings": {"kafka": {"topic": spec.address, "partitions": 6, "bindingVersion": "0.5.0"}},
        }
        for service in spec.producers:
            operations[f"{service}Sends{spec.channel[0].upper()}{spec.channel[1:]}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{spec.channel}"},
                "summary": f"{service} publishes to {spec.address}.",
                "tags": [{"name": service}],
            }
        for service in spec.consumers:
            groups = consumer_groups(service, spec.address)
            named = "consumer group " + groups[0] if len(groups) == 1 else "consumer groups " + ", ".join(groups)
            operations[f"{service}Receives{spec.channel[0].upper()}{spec.channel[1:]}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{spec.channel}"},
                "summary": f"{service} consumes {spec.address} ({named}).",
                "tags": [{"name": service}],
                "bindings": {"kafka": {"groupId": {"type": "string", "enum": groups}}},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "LeadFlow events",
            "version": "1.0.0",
            "description": "The Kafka contract between LeadFlow's services: JSON CloudEvents 1.0 in structured "
            "mode, keyed by lead_id. Generated from shared/events.py by `leadflow asyncapi`; do not edit by hand.",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "local": {"host": "127.0.0.1:9092", "protocol": "kafka", "description": "`make up` (leadflow/stack.py)"},
            "compose": {"host": "kafka:9092", "protocol": "kafka", "description": "docker-compose.yml"},
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas,
            "correlationIds": {
                "correlationId": {
                    "description": "Set by ingest (X-Correlation-Id or a new id), carried in headers to the notifier.",
                    "location": "$message.header#/correlation_id",
                }
            },
        },
    }


def render() -> str:
    """The document as YAML text, exactly as committed in docs/asyncapi.yaml."""
    header = "# Generated by `leadflow asyncapi` from shared/events.py. Do not edit: regenerate.\n"
    return header + yaml.safe_dump(build_document(), sort_keys=False, allow_unicode=True, width=120)


def _run(args: argparse.Namespace) -> int:
    text = render()
    output = Path(args.output)
    if args.check:
        if not output.exists() or output.read_text(encoding="utf-8") != text:
            print(f"✘ {output} is out of date: run `leadflow asyncapi`", file=sys.stderr)
            return 1
        print(f"✔ {output} matches shared/events.py")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"✔ wrote {output}")
    return 0


def register(sub: Any) -> None:
    """Add `leadflow asyncapi` to the ``leadflow`` parser."""
    parser = sub.add_parser("asyncapi", help="write docs/asyncapi.yaml from the event models in shared/events.py")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="where to write (default: docs/asyncapi.yaml)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file differs from a fresh generation")
    parser.set_defaults(func=_run)
