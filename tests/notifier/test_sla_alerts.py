"""Reminders and escalations: what the owner, the manager and the team channel read, in English and Japanese."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from slack_sdk.models.blocks import Block

from leadflow.standins.slack import create_slack_app
from services.notifier.consumer import owed_for_sla
from services.notifier.domain import ACTION_ACCEPT, ACTION_CONTACTED, ACTION_REJECT, NoRecipientError, SlackMessage
from services.notifier.sla_alerts import (
    render_email_escalation,
    render_email_reminder,
    render_slack_escalation,
    render_slack_reminder,
)
from shared.events import SlaEventKind
from tests.notifier.factories import NOW, a_manager, a_rep, an_sla_event


def text_of(message: SlackMessage) -> str:
    parts: list[str] = [message.text]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in {"mrkdwn", "plain_text"}:
                parts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.blocks)
    return "\n".join(parts)


def a_reminder(**overrides: Any) -> Any:
    return an_sla_event(SlaEventKind.REMINDER, **overrides)


def a_breach(**overrides: Any) -> Any:
    fields: dict[str, Any] = {"escalate_to": a_manager(), "late_by": timedelta(minutes=12)}
    return an_sla_event(SlaEventKind.BREACH, **(fields | overrides))


def test_a_reminder_goes_to_the_owner_with_the_time_left_and_the_deadline_in_their_zone() -> None:
    # Given a rank-A lead due in 15 minutes, owned by a rep in Tokyo
    # When the reminder is rendered
    message = render_slack_reminder(a_reminder(), now=NOW)
    # Then it reaches the owner and says how long is left and the deadline in Tokyo time
    assert message.channel == "U07KENSATO"
    text = text_of(message)
    assert "Call within 15 minutes — by 10:20 JST" in text
    assert "Jane Doe" in text
    assert "Acme Robotics" in text


def test_a_reminder_carries_the_buttons_to_act_on_it() -> None:
    # Given a reminder
    # When it is rendered
    message = render_slack_reminder(a_reminder(), now=NOW)
    # Then the owner can accept, reject or log a contact from it
    (actions,) = [b for b in message.blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [ACTION_ACCEPT, ACTION_REJECT, ACTION_CONTACTED]


def test_an_escalation_names_the_lead_the_rep_and_how_late_it_is() -> None:
    # Given a window that closed twelve minutes ago without contact
    # When the manager's escalation is rendered
    message = render_slack_escalation(a_breach(), now=NOW)
    # Then it reaches the manager and names the rep, the person and the delay
    assert message.channel == "U01BOSS"
    text = text_of(message)
    assert "Ken Sato has not contacted Jane Doe (Acme Robotics)" in text
    assert "12 minutes late" in text


def test_an_escalation_delivered_late_counts_the_delay_until_now() -> None:
    # Given a breach the router measured at 12 minutes, rendered 20 minutes after it fired
    # When the escalation is rendered
    message = render_slack_escalation(a_breach(), now=NOW + timedelta(minutes=20))
    # Then it says how late the lead is now
    assert "32 minutes late" in text_of(message)


def test_an_escalation_has_no_buttons_for_the_manager() -> None:
    # Given a breach
    # When the escalation is rendered
    message = render_slack_escalation(a_breach(), now=NOW)
    # Then it carries no actions: the owner acts, the manager follows up
    assert not [b for b in message.blocks if b["type"] == "actions"]


def test_an_escalation_can_go_to_a_team_channel() -> None:
    # Given a breach with a team channel configured
    # When it is rendered for that channel
    message = render_slack_escalation(a_breach(team_channel="C0SALESTEAM"), now=NOW, channel="C0SALESTEAM")
    # Then it is addressed to the channel
    assert message.channel == "C0SALESTEAM"


def test_an_escalation_leaves_contact_details_out_of_channels() -> None:
    # Given a breach for a person with an email address and phone number
    # When it is rendered for a team channel
    text = text_of(render_slack_escalation(a_breach(), now=NOW, channel="C0SALESTEAM"))
    # Then neither appears: channels are not a place for personal contact data
    assert "jane.doe@acme.example" not in text


def test_a_japanese_owner_gets_the_reminder_in_japanese() -> None:
    # Given an owner whose Slack is in Japanese
    event = a_reminder(owner=a_rep(locale="ja"))
    # When the reminder is rendered
    text = text_of(render_slack_reminder(event, now=NOW))
    # Then labels, deadline and buttons are Japanese
    assert "リマインダー" in text
    assert "15分以内に電話してください — 11月24日(火) 10:20 JSTまで" in text
    assert "受諾" in text


def test_a_japanese_manager_gets_the_escalation_in_japanese() -> None:
    # Given a manager whose Slack is in Japanese
    event = a_breach(escalate_to=a_manager(locale="ja"))
    # When the escalation is rendered
    text = text_of(render_slack_escalation(event, now=NOW))
    # Then it says, in Japanese, who is late and by how much
    assert "SLA超過" in text
    assert "Ken Satoさんが" in text
    assert "12分超過しています" in text


@pytest.mark.parametrize("locale", ["en", "ja"])
async def test_reminders_and_escalations_are_valid_block_kit_the_standin_accepts(locale: Any) -> None:
    # Given a reminder and an escalation in either language
    messages = [
        render_slack_reminder(a_reminder(owner=a_rep(locale=locale)), now=NOW),
        render_slack_escalation(a_breach(escalate_to=a_manager(locale=locale)), now=NOW),
    ]
    transport = httpx.ASGITransport(app=create_slack_app("xoxb-test"))
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as slack:
        for message in messages:
            # When slack_sdk parses them and the stand-in receives them
            for raw in message.blocks:
                block = Block.parse(raw)
                assert block is not None
                block.validate_json()
            response = await slack.post(
                "/api/chat.postMessage",
                json={"channel": message.channel, "text": message.text, "blocks": message.blocks},
                headers={"Authorization": "Bearer xoxb-test"},
            )
            # Then they are accepted
            assert response.json()["ok"] is True, response.json()


def test_the_reminder_email_carries_the_same_facts_as_slack() -> None:
    # Given a reminder
    # When the email is rendered
    mail = render_email_reminder(a_reminder(), now=NOW)
    # Then it goes to the owner with the deadline, the lead and its score, in both parts
    assert mail.to == "ken.sato@seller.example"
    assert "Reminder" in mail.subject
    for part in (mail.text, mail.html):
        assert "Call within 15 minutes — by 10:20 JST" in part
        assert "Jane Doe" in part
        assert "Rank A · 70 points" in part


def test_the_escalation_email_goes_to_the_manager_and_escapes_markup() -> None:
    # Given a breach on a lead whose company name holds markup
    from tests.notifier.factories import a_lead, a_person

    event = a_breach(lead=a_lead(person=a_person(company="<b>Acme</b>")))
    # When the escalation email is rendered
    mail = render_email_escalation(event, now=NOW)
    # Then it goes to the manager, the subject names the delay, and the HTML is escaped
    assert mail.to == "aiko.tanaka@seller.example"
    assert "12 minutes late" in mail.subject
    assert "&lt;b&gt;Acme&lt;/b&gt;" in mail.html
    assert "<b>Acme</b>" in mail.text


def test_an_unowned_reminder_has_no_recipient() -> None:
    # Given a reminder for a lead without an owner
    # When it is rendered
    # Then there is nobody to remind
    with pytest.raises(NoRecipientError):
        render_slack_reminder(a_reminder(unowned=True), now=NOW)


def test_a_breach_owes_the_manager_slack_and_email_and_the_team_channel_each_once() -> None:
    # Given a breach with a manager and a team channel
    event = a_breach(team_channel="C0SALESTEAM")
    # When the owed messages are listed
    owed = owed_for_sla(event, NOW)
    # Then there are three, each under its own key
    assert sorted((o.medium, o.kind) for o in owed) == [
        ("email", "escalation"),
        ("slack", "escalation"),
        ("slack", "escalation"),
    ]
    assert len({o.key for o in owed}) == 3
    assert {o.message.channel for o in owed if isinstance(o.message, SlackMessage)} == {"U01BOSS", "C0SALESTEAM"}


def test_a_reminder_owes_the_owner_slack_and_email() -> None:
    # Given a reminder
    # When the owed messages are listed
    owed = owed_for_sla(a_reminder(), NOW)
    # Then the owner gets one of each, keyed by the SLA event
    assert sorted(o.medium for o in owed) == ["email", "slack"]
    assert all(o.key.startswith(o.decision_id) and ":reminder:" in o.key for o in owed)


def test_each_delivery_loop_is_owed_only_its_own_medium_with_the_same_keys() -> None:
    # Given a breach owed on Slack (manager, team channel) and by email (manager)
    event = a_breach(team_channel="C0SALESTEAM")
    every = owed_for_sla(event, NOW)
    # When the Slack loop and the email loop each list what they owe
    slack = owed_for_sla(event, NOW, frozenset({"slack"}))
    email = owed_for_sla(event, NOW, frozenset({"email"}))
    # Then together they are exactly what one loop owed before, under the same idempotency keys
    assert {o.medium for o in slack} == {"slack"}
    assert {o.medium for o in email} == {"email"}
    assert sorted(o.key for o in slack + email) == sorted(o.key for o in every)
