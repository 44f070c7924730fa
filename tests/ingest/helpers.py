"""Helpers for ingest's integration tests: signed vendor deliveries, metrics, a fresh in-process ingest."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from leadflow import stack
from services.ingest.app import create_app
from services.ingest.settings import get_settings
from services.ingest.signatures import hubspot_v3_signature, mautic_signature
from tests.conftest import eventually

LAYOUT = stack.layout_for_tests()
API_KEY = dict(LAYOUT.env)["INGEST_API_KEYS"].split(",")[0]
WEBHOOK_SECRET = dict(LAYOUT.env)["WEBHOOK_SECRET"]
JSON_HEADERS = {"X-API-Key": API_KEY, "content-type": "application/json"}


def mautic_headers(raw: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"content-type": "application/json", "Webhook-Signature": mautic_signature(secret, raw)}


def hubspot_headers(url: str, raw: bytes, secret: str = WEBHOOK_SECRET, at_ms: int | None = None) -> dict[str, str]:
    stamp = str(at_ms if at_ms is not None else int(time.time() * 1000))
    return {
        "content-type": "application/json",
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-v3": hubspot_v3_signature(secret, "POST", url, raw, stamp),
    }


async def metric(http: httpx.AsyncClient, base: str, name: str) -> float:
    """The sum of a Prometheus counter's samples on ingest's /metrics."""
    text = (await http.get(f"{base}/metrics")).text
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", re.M)
    return sum(float(v) for v in pattern.findall(text))


@asynccontextmanager
async def ingest_in_process(
    monkeypatch_env: dict[str, str], *, wait_ready: bool = True
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A second ingest instance in this process, on the test stack's database, with the given settings.

    It connects to Kafka in the background (ingest must start without it), so unless the test is about Kafka
    being away, wait for /readyz first: a post before the producer is up is rightly a 503, and a shutdown in
    the middle of the connect leaves sockets behind.
    """
    import os

    saved = {k: os.environ.get(k) for k in monkeypatch_env}
    base_env = {
        "DATABASE_URL": stack.database_url(LAYOUT),
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap(LAYOUT),
        **dict(LAYOUT.env),
    }
    for key, value in {**base_env, **monkeypatch_env}.items():
        saved.setdefault(key, os.environ.get(key))
        os.environ[key] = value
    get_settings.cache_clear()
    app = create_app()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
                if wait_ready:

                    async def ready() -> bool:
                        return (await client.get("/readyz")).status_code == 200

                    await eventually(ready, within=30)
                yield app, client
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
