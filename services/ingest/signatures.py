"""Vendor webhook signatures, verified against the raw body. Pure: the caller passes ``now``."""

from __future__ import annotations

import base64
import hashlib
import hmac

from shared.signatures import leadflow_signature


class SignatureError(ValueError):
    """A webhook's signature is missing, malformed, stale or wrong; ``code`` is the 401 error code."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code
        self.detail = detail


def verify_leadflow(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, *, now: float, tolerance_s: int
) -> None:
    """X-LeadFlow-Signature: sha256=hex(HMAC(secret, "<timestamp>.<raw body>")), timestamp in unix seconds."""
    if not timestamp or not signature:
        raise SignatureError("missing_signature", "send X-LeadFlow-Timestamp and X-LeadFlow-Signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("invalid_timestamp", "X-LeadFlow-Timestamp is unix seconds") from None
    if abs(now - sent_at) > tolerance_s:
        raise SignatureError("stale_timestamp", f"more than {tolerance_s // 60} minutes off")
    if not hmac.compare_digest(leadflow_signature(secret, str(sent_at), body), signature):
        raise SignatureError("invalid_signature")


def mautic_signature(secret: str, body: bytes) -> str:
    """Mautic's Webhook-Signature: base64 of HMAC-SHA256(secret, raw body)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_mautic(secret: str, signature: str | None, body: bytes) -> None:
    """Mautic signs the body only (no timestamp): replays are absorbed by the content-derived event ids."""
    if not signature:
        raise SignatureError("missing_signature", "send the Webhook-Signature header")
    if not hmac.compare_digest(mautic_signature(secret, body), signature.strip()):
        raise SignatureError("invalid_signature")


# HubSpot signs the URI with these escapes decoded (its "validating requests" guide).
_HUBSPOT_DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip


def hubspot_v3_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """X-HubSpot-Signature-v3: base64 of HMAC-SHA256(client secret, method + uri + body + timestamp)."""
    for escaped, char in _HUBSPOT_DECODED.items():
        uri = uri.replace(escaped, char).replace(escaped.lower(), char)
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_hubspot_v3(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now: float,
    tolerance_s: int,
) -> None:
    """Reject a missing or wrong v3 signature and a X-HubSpot-Request-Timestamp (ms) outside the tolerance."""
    if not timestamp or not signature:
        raise SignatureError("missing_signature", "send X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp")
    try:
        sent_ms = int(timestamp)
    except ValueError:
        raise SignatureError("invalid_timestamp", "X-HubSpot-Request-Timestamp is unix milliseconds") from None
    if abs(now - sent_ms / 1000) > tolerance_s:
        raise SignatureError("stale_timestamp", f"more than {tolerance_s // 60} minutes off")
    if not hmac.compare_digest(hubspot_v3_signature(secret, method, uri, body, timestamp), signature.strip()):
        raise SignatureError("invalid_signature")
