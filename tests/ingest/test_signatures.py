"""Webhook signatures: vendors' published vectors, tampering, missing headers, stale timestamps."""

from __future__ import annotations

import pytest

from services.ingest.signatures import (
    SignatureError,
    hubspot_v3_signature,
    mautic_signature,
    verify_hubspot_v3,
    verify_leadflow,
    verify_mautic,
)
from shared.signatures import leadflow_signature

# HubSpot's own client library test vector (hubspot-api-python tests/spec/utils/test_signature.py).
HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
HUBSPOT_BODY = b"{'example_field':'example_value'}"
HUBSPOT_URL = "https://www.example.com/webhook_uri"
NOW = 1_763_859_600.0


def test_hubspot_v3_signature_matches_hubspots_published_vector() -> None:
    signature = hubspot_v3_signature(HUBSPOT_SECRET, "POST", HUBSPOT_URL, HUBSPOT_BODY, "15000000")
    assert signature == "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="


def test_hubspot_signs_the_uri_with_reserved_characters_decoded() -> None:
    encoded = hubspot_v3_signature("s", "POST", "https://h.example/hook%3Fsite%40jp", b"[]", "1")
    assert encoded == hubspot_v3_signature("s", "POST", "https://h.example/hook?site@jp", b"[]", "1")


def test_a_fresh_hubspot_signature_is_accepted() -> None:
    stamp = str(int(NOW * 1000))
    signature = hubspot_v3_signature("s", "POST", HUBSPOT_URL, b"[]", stamp)
    verify_hubspot_v3("s", "POST", HUBSPOT_URL, b"[]", stamp, signature, now=NOW, tolerance_s=300)


def test_a_hubspot_timestamp_older_than_five_minutes_is_refused() -> None:
    stamp = str(int((NOW - 301) * 1000))
    signature = hubspot_v3_signature("s", "POST", HUBSPOT_URL, b"[]", stamp)
    with pytest.raises(SignatureError) as refused:
        verify_hubspot_v3("s", "POST", HUBSPOT_URL, b"[]", stamp, signature, now=NOW, tolerance_s=300)
    assert refused.value.code == "stale_timestamp"


def test_a_hubspot_body_changed_after_signing_is_refused() -> None:
    stamp = str(int(NOW * 1000))
    signature = hubspot_v3_signature("s", "POST", HUBSPOT_URL, b"[]", stamp)
    with pytest.raises(SignatureError) as refused:
        verify_hubspot_v3("s", "POST", HUBSPOT_URL, b"[{}]", stamp, signature, now=NOW, tolerance_s=300)
    assert refused.value.code == "invalid_signature"


def test_mautic_signature_is_base64_hmac_of_the_raw_body() -> None:
    # Mautic publishes no vector; this one is from an independent implementation of its documented PHP
    # (base64_encode(hash_hmac('sha256', $rawData, $secret, true))): `openssl dgst -sha256 -hmac … -binary | base64`.
    assert mautic_signature("mySuperWebhookSecretKey", b'{"mautic.lead_post_save_new":[]}') == (
        "fHV+J3pAUqJN/Qw6D0j4EmFHaFHJixyIbfoe8J2fs2A="
    )


def test_a_mautic_delivery_without_a_signature_is_refused() -> None:
    with pytest.raises(SignatureError) as refused:
        verify_mautic("s", None, b"{}")
    assert refused.value.code == "missing_signature"


def test_a_mautic_delivery_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(SignatureError) as refused:
        verify_mautic("s", mautic_signature("other", b"{}"), b"{}")
    assert refused.value.code == "invalid_signature"


def test_a_leadflow_signature_with_a_timestamp_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(SignatureError) as refused:
        verify_leadflow("s", "yesterday", "sha256=00", b"{}", now=NOW, tolerance_s=300)
    assert refused.value.code == "invalid_timestamp"


def test_a_leadflow_signature_from_the_future_beyond_the_tolerance_is_refused() -> None:
    stamp = str(int(NOW + 301))
    with pytest.raises(SignatureError) as refused:
        verify_leadflow("s", stamp, leadflow_signature("s", stamp, b"{}"), b"{}", now=NOW, tolerance_s=300)
    assert refused.value.code == "stale_timestamp"
