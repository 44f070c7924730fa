"""Mautic and HubSpot golden payloads (shapes from their developer documentation) through the adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from services.ingest.adapters import hubspot, mautic
from services.ingest.domain import to_lead_event
from shared.events import Channel, EventKind
from shared.normalize import lead_id_for

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def golden(vendor: str, name: str) -> Any:
    return orjson.loads((FIXTURES / vendor / name).read_bytes())


def test_a_mautic_form_submission_becomes_a_normalized_form_event() -> None:
    translation = mautic.translate(golden("mautic", "form_on_submit.json"))
    [item] = translation.events
    event = to_lead_event(item.channel, item.body, received_at=NOW, source="mautic")
    assert (event.channel, event.kind, event.lead_id) == (
        Channel.WEB_FORM,
        EventKind.DEMO_REQUEST,
        lead_id_for("tanaka@example.co.jp"),
    )
    assert event.person is not None
    assert (event.person.name, event.person.title, event.person.phone) == ("太郎 田中", "営業部長", "+81312345678")
    assert event.occurred_at == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def test_a_mautic_form_alias_can_be_mapped_to_a_form_kind_in_settings() -> None:
    translation = mautic.translate(golden("mautic", "form_on_submit.json"), {"demo_request_jp": "document_request"})
    assert translation.events[0].body.form == "document_request"  # type: ignore[union-attr]


def test_a_mautic_email_open_uses_the_stats_address_and_read_time() -> None:
    [item] = mautic.translate(golden("mautic", "email_on_open.json")).events
    event = to_lead_event(item.channel, item.body, received_at=NOW, source="mautic")
    assert (event.kind, event.lead_id, event.occurred_at) == (
        EventKind.EMAIL_OPEN,
        lead_id_for("chad.windnagle@example.com"),
        datetime(2026, 8, 26, 1, 35, 53, tzinfo=UTC),
    )


def test_a_mautic_page_hit_from_an_email_link_is_an_email_click() -> None:
    events = mautic.translate(golden("mautic", "page_on_hit.json")).events
    kinds = [to_lead_event(e.channel, e.body, received_at=NOW, source="mautic").kind for e in events]
    assert kinds == [EventKind.PAGE_VIEW, EventKind.EMAIL_CLICK]


def test_a_mautic_item_gets_the_same_event_id_when_delivered_again() -> None:
    first = mautic.translate(golden("mautic", "page_on_hit.json")).events
    again = mautic.translate(golden("mautic", "page_on_hit.json")).events
    assert [e.body.event_id for e in first] == [e.body.event_id for e in again]
    assert first[0].body.event_id != first[1].body.event_id


def test_a_queued_mautic_delivery_maps_each_type_and_explains_what_it_skips() -> None:
    translation = mautic.translate(golden("mautic", "queued_mixed.json"))
    kinds = [to_lead_event(e.channel, e.body, received_at=NOW, source="mautic").kind for e in translation.events]
    assert kinds == [EventKind.UNSUBSCRIBE, EventKind.BOUNCE]
    assert {s.ref: s.reason for s in translation.skipped}.keys() == {
        "mautic.lead_post_save_new/0",
        "mautic.lead_points_change/0",
        "mautic.email_on_open/0",
    }


def test_a_mautic_open_without_any_email_is_skipped_with_the_field_that_was_missing() -> None:
    translation = mautic.translate(golden("mautic", "queued_mixed.json"))
    reasons = {s.ref: s.reason for s in translation.skipped}
    assert reasons["mautic.email_on_open/0"].startswith("email:")


def test_a_delivery_that_is_not_an_object_is_skipped_as_a_whole() -> None:
    assert [s.ref for s in mautic.translate(["mautic.email_on_open"]).skipped] == ["body"]


def test_hubspot_learns_the_contact_from_its_email_change_and_maps_its_activity() -> None:
    translation = hubspot.translate(golden("hubspot", "contact_events.json"), {}, received_at=NOW)
    assert translation.identities == {(33, 1246965): lead_id_for("yamada@example.co.jp")}
    assert [(e.kind, e.lead_id) for e in translation.events] == [
        (EventKind.DEMO_REQUEST, lead_id_for("yamada@example.co.jp")),
        (EventKind.EMAIL_OPEN, lead_id_for("yamada@example.co.jp")),
    ]
    assert translation.events[1].occurred_at == datetime(2025, 11, 23, 2, 0, tzinfo=UTC)


def test_hubspot_activity_of_a_contact_seen_in_an_earlier_delivery_is_mapped() -> None:
    known = {(33, 5550001): "ld_000000000000000000000001"}
    translation = hubspot.translate(golden("hubspot", "contact_events.json"), known, received_at=NOW)
    clicks = [e for e in translation.events if e.kind is EventKind.EMAIL_CLICK]
    assert [(c.lead_id, c.email) for c in clicks] == [("ld_000000000000000000000001", None)]


def test_hubspot_activity_of_an_unknown_contact_is_skipped_with_the_fix() -> None:
    translation = hubspot.translate(golden("hubspot", "contact_events.json"), {}, received_at=NOW)
    reasons = dict(translation.skipped)
    assert "subscribe to contact.propertyChange of email" in reasons["4"]
    assert "not an activity" in reasons["5"]


def test_hubspot_ids_beyond_64_bits_are_not_contact_references() -> None:
    payload = [{"portalId": 2**70, "objectId": 1, "eventId": 1, "subscriptionType": "contact.propertyChange"}]
    assert hubspot.contact_refs(payload) == []
    assert hubspot.translate(payload, {}, received_at=NOW).events == []
