"""The least an ingest endpoint can do in Python: read the body, publish it durably, answer 202.

A bare ASGI app (no framework, no validation, no database) under the same uvicorn options (``stack.uvicorn_argv``)
and producer settings as ingest. ``bench/floor.py`` runs it under wrk: its rate is the ceiling of any Python
service that answers only after Kafka acknowledged, on this machine, with Kafka beside it.

``POST /single``: the body is one record. ``POST /batch``: the body is ``{"events": [...]}`` as ingest's batch
endpoint takes it; each element is published as a record of its own, keyed by its email as ingest keys by lead,
through the same batched publish as ingest's (``shared.kafka.send_records``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson

from shared.kafka import create_producer, send_records

_TOPIC = os.environ.get("FLOOR_TOPIC", "leadflow.bench.floor-http")
_BOOTSTRAP = os.environ.get("FLOOR_BOOTSTRAP", "127.0.0.1:9092")
_ACCEPTED = {"type": "http.response.start", "status": 202, "headers": [(b"content-type", b"application/json")]}
_BODY = {"type": "http.response.body", "body": b'{"status":"accepted"}'}

_producer: Any = None


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _producer
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _producer = create_producer(_BOOTSTRAP, client_id="leadflow-bench-floor")
                await _producer.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _producer.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["method"] == "GET":  # /readyz: the producer started with the lifespan, before any request
        await send({**_ACCEPTED, "status": 200})
        await send(_BODY)
        return
    body = await _read_body(receive)
    if scope["path"] == "/batch":
        events = orjson.loads(body)["events"]
        records = [(_TOPIC, str(e["event"].get("email", "")).encode(), orjson.dumps(e), ()) for e in events]
        await asyncio.gather(*await send_records(_producer, records))
    else:
        await (await _producer.send(_TOPIC, body))
    await send(_ACCEPTED)
    await send(_BODY)
