"""The seminar attendee's thank-you: sent for the owner when routing asks for a seminar follow-up."""

from __future__ import annotations

import pytest

from services.notifier.consumer import owed_for_decision
from services.notifier.thank_you import render_thank_you, wants_thank_you
from shared.events import Activity, Channel, EventKind, RoutingDecision, SlaKind
from tests.notifier.factories import NOW, a_decision, a_lead, a_person

MATERIAL = "https://seller.example/material/dx-2026.pdf"


def a_seminar_decision(country: str = "US", activity: list[Activity] | None = None) -> RoutingDecision:
    lead = a_lead(
        person=a_person(country=country),
        trigger_kind=EventKind.WEBINAR_ATTENDED,
        details={"webinar": "DX Summit 2026"},
        activity=activity,
    )
    return a_decision(lead=lead, sla_kind=SlaKind.SEMINAR_FOLLOW_UP)


def test_a_seminar_follow_up_thanks_the_attendee_with_the_material_replying_to_the_owner() -> None:
    # Given a seminar follow-up decision for an attendee
    decision = a_seminar_decision()
    # When the thank-you is rendered
    mail = render_thank_you(decision, material_url=MATERIAL)
    # Then it is addressed to the attendee, names the seminar, links the material and replies to the owner
    assert mail.to == "jane.doe@acme.example"
    assert mail.subject == "Thank you for joining DX Summit 2026"
    assert mail.reply_to == "ken.sato@seller.example"
    assert MATERIAL in mail.text
    assert f'href="{MATERIAL}"' in mail.html
    assert "Ken Sato" in mail.text


def test_a_japanese_attendee_is_thanked_in_japanese() -> None:
    # Given an attendee in Japan
    decision = a_seminar_decision(country="JP")
    # When the thank-you is rendered
    mail = render_thank_you(decision, material_url=MATERIAL)
    # Then it is written in Japanese
    assert mail.subject == "「DX Summit 2026」ご参加のお礼"
    assert "Jane Doe 様" in mail.text
    assert "ご参加いただき、誠にありがとうございました" in mail.text


def test_the_thank_you_without_material_still_thanks_and_offers_a_conversation() -> None:
    # Given no material link configured
    # When the thank-you is rendered
    mail = render_thank_you(a_seminar_decision(), material_url=None)
    # Then it thanks and invites a reply, with no dangling link
    assert "Thank you for joining DX Summit 2026" in mail.text
    assert "here is the material" not in mail.text


@pytest.mark.parametrize("kind", [EventKind.UNSUBSCRIBE, EventKind.BOUNCE])
def test_nobody_who_unsubscribed_or_bounced_is_written_to(kind: EventKind) -> None:
    # Given an attendee who unsubscribed or whose address bounced
    activity = [Activity(kind=kind, channel=Channel.BEHAVIOR, occurred_at=NOW)]
    decision = a_seminar_decision(activity=activity)
    # When the notifier decides what it owes
    # Then no thank-you is owed
    assert not wants_thank_you(decision)


def test_other_decisions_owe_no_thank_you() -> None:
    # Given an ordinary rank-A decision
    # When the owed messages are listed
    owed = owed_for_decision(a_decision(), NOW, None, MATERIAL)
    # Then only the rep's alerts are owed
    assert sorted(o.kind for o in owed) == ["assignment", "assignment"]


def test_a_seminar_follow_up_owes_only_the_attendees_thank_you() -> None:
    # Given a seminar follow-up decision (the lead keeps its owner; nothing was assigned)
    # When the owed messages are listed
    owed = owed_for_decision(a_seminar_decision(), NOW, None, MATERIAL)
    # Then only the thank-you is owed: no second "a lead was assigned to you" alert to the owner
    assert [(o.kind, o.medium) for o in owed] == [("thank_you", "email")]


def test_the_email_loop_owes_the_thank_you_and_the_slack_loop_does_not() -> None:
    # Given a seminar follow-up, and an ordinary decision
    # When each delivery loop lists what it owes
    # Then the thank-you (an email) is the email loop's alone, and each loop gets its medium of the rep's alerts
    assert owed_for_decision(a_seminar_decision(), NOW, None, MATERIAL, frozenset({"slack"})) == []
    assert [o.kind for o in owed_for_decision(a_seminar_decision(), NOW, None, MATERIAL, frozenset({"email"}))] == [
        "thank_you"
    ]
    assert [o.medium for o in owed_for_decision(a_decision(), NOW, None, MATERIAL, frozenset({"slack"}))] == ["slack"]
    assert [o.medium for o in owed_for_decision(a_decision(), NOW, None, MATERIAL, frozenset({"email"}))] == ["email"]
