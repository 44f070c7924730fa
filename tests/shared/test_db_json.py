"""How JSON column values become text for PostgreSQL."""

from __future__ import annotations

import json

from shared.db import json_text


def test_json_values_are_written_compactly_with_keys_as_strings() -> None:
    value = {"reasons": [{"rule": "fit.seniority", "value": 1.5, "event_id": None}], 7: True, "名前": "佐藤"}
    text = json_text(value)
    assert text == '{"reasons":[{"rule":"fit.seniority","value":1.5,"event_id":null}],"7":true,"名前":"佐藤"}'
    assert json.loads(text) == {"reasons": value["reasons"], "7": True, "名前": "佐藤"}


def test_an_integer_beyond_64_bits_is_written_as_before() -> None:
    # orjson refuses it; the standard library writes it, as the engine did before orjson
    assert json.loads(json_text({"id": 2**70})) == {"id": 2**70}
