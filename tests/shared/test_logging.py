"""Logs carry no personal data, and one lead's path can be followed by its correlation id."""

from __future__ import annotations

import logging

import orjson

from shared.logging import JsonFormatter, correlation_id, log_fields, mask_pii


def test_emails_and_phone_numbers_are_masked() -> None:
    text = mask_pii("lead tanaka@example.co.jp called from +81 3-1234-5678 about 12 seats")
    assert "tanaka@example.co.jp" not in text
    assert "1234-5678" not in text
    assert "12 seats" in text


def _format(msg: str, **fields: object) -> dict[str, object]:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, None, None)
    record.fields = log_fields(**fields)["fields"]
    return orjson.loads(JsonFormatter("ingest").format(record))  # type: ignore[no-any-return]


def test_structured_fields_are_masked_too() -> None:
    line = _format("saw a lead", detail="from jane@acme.example.com")
    assert line["detail"] == "from [email]"
    assert line["service"] == "ingest"


def test_the_correlation_id_of_the_task_is_on_every_line() -> None:
    token = correlation_id.set("abc123")
    try:
        assert _format("hello")["correlation_id"] == "abc123"
    finally:
        correlation_id.reset(token)
