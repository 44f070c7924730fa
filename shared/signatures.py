"""Webhook signatures, in one place for the verifier (ingest) and the senders (demo, tests, docs)."""

from __future__ import annotations

import hashlib
import hmac


def leadflow_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">``, the X-LeadFlow-Signature header."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers a behaviour webhook sender adds."""
    stamp = str(timestamp)
    return {
        "content-type": "application/json",
        "X-LeadFlow-Timestamp": stamp,
        "X-LeadFlow-Signature": leadflow_signature(secret, stamp, body),
    }
