"""The notifier's message rendering: what a rep (or the fallback queue) reads in Slack and in email."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import pytest
from slack_sdk.models.blocks import Block

from leadflow.standins.slack import create_slack_app
from services.notifier.domain import (
    ACTION_ACCEPT,
    ACTION_CONTACTED,
    ACTION_REJECT,
    EVENT_KIND_LABELS,
    NoRecipientError,
    SlackMessage,
    action_value,
    idempotency_key,
    parse_action_value,
    render_email_assignment,
    render_slack_assignment,
)
from shared.events import (
    Activity,
    Bant,
    Channel,
    DecisionKind,
    EventKind,
    LeadEvent,
    LeadScored,
    Person,
    Rank,
    RepRef,
    RoutingDecision,
    ScoreReason,
    SlaKind,
    Stage,
    Temperature,
)
from tests.notifier import factories

# Tue 24 Nov 2026, 10:05 in Tokyo: the lead asked for a demo two minutes earlier.
NOW = datetime(2026, 11, 24, 1, 5, tzinfo=UTC)
CONSOLE = "https://console.leadflow.test"


def a_person(**overrides: Any) -> Person:
    # The shared factory, with this module's lead in Japan.
    return factories.a_person(**({"country": "JP"} | overrides))


def a_rep(**overrides: Any) -> RepRef:
    # The shared factory, without a manager: these messages are the rep's own.
    return factories.a_rep(**({"manager_slack_id": None, "manager_email": None} | overrides))


def a_decision(
    *,
    person: Person | None = None,
    owner: RepRef | None = None,
    unassigned: bool = False,
    locale: Literal["en", "ja"] | None = None,
    reasons: list[ScoreReason] | None = None,
    reason: str = "Owner of the Acme Robotics account",
    queue: str | None = None,
    bant: Bant | None = None,
) -> RoutingDecision:
    """A rank-A demo request from a VP at a 500-person company, routed to a rep in Tokyo."""
    trigger_at = NOW - timedelta(minutes=2)
    trigger = LeadEvent(
        event_id="evt-1",
        lead_id="lead-42",
        channel=Channel.WEB_FORM,
        kind=EventKind.DEMO_REQUEST,
        occurred_at=trigger_at,
        received_at=trigger_at,
        source="api:form",
        person=person or a_person(),
    )
    lead = LeadScored(
        lead_id="lead-42",
        person=person or a_person(),
        fit=30,
        intent=56.5,
        total=86.5,
        rank=Rank.A,
        temperature=Temperature.HOT,
        stage=Stage.MQL,
        previous_stage=Stage.LEAD,
        reasons=reasons
        if reasons is not None
        else [
            ScoreReason(rule="title.decision_maker", label="Decision maker", points=15, value=15),
            ScoreReason(rule="form.demo_request", label="Demo request", points=40, value=40),
            ScoreReason(rule="company.size_300_999", label="300–999 employees", points=10, value=10),
            ScoreReason(rule="behavior.pricing_page", label="Pricing page view", points=15, value=13.5),
            ScoreReason(rule="behavior.email_open", label="Email open", points=1, value=1),
        ],
        bant=bant or Bant(budget=True, need=True),
        trigger=trigger,
        recent_activity=[
            Activity(kind=EventKind.PRICING_INQUIRY, channel=Channel.WEB_FORM, occurred_at=NOW - timedelta(days=1)),
            Activity(kind=EventKind.DEMO_REQUEST, channel=Channel.WEB_FORM, occurred_at=trigger_at),
        ],
        model_version="scoring-2026.11",
        scored_at=NOW,
    )
    rep = None if unassigned else (owner or a_rep())
    if rep is not None and locale is not None:
        rep = rep.model_copy(update={"locale": locale})
    return RoutingDecision(
        decision_id="dec-9",
        lead_id="lead-42",
        kind=DecisionKind.FALLBACK if unassigned else DecisionKind.ACCOUNT_MATCH,
        owner=rep,
        team=None if unassigned else "enterprise-jp",
        queue=queue if queue is not None else ("C0FALLBACK" if unassigned else None),
        rule="account_owner",
        reason=reason,
        sla_kind=SlaKind.RANK_A,
        sla_due_at=NOW + timedelta(hours=1),
        lead=lead,
        decided_at=NOW,
    )


def all_mrkdwn(message: SlackMessage) -> str:
    """Every mrkdwn string Slack would parse, the fallback text included."""
    texts = [message.text]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                texts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.blocks)
    return "\n".join(texts)


def blocks_of_type(message: SlackMessage, block_type: str) -> list[dict[str, Any]]:
    return [b for b in message.blocks if b["type"] == block_type]


# --- Slack: content ---


def test_slack_message_goes_to_the_owners_slack_id() -> None:
    # Given a decision owned by a rep
    decision = a_decision()
    # When it is rendered for Slack
    message = render_slack_assignment(decision, now=NOW)
    # Then it is addressed to the rep directly
    assert message.channel == "U07KENSATO"


def test_slack_message_names_the_person_their_title_and_company_facts() -> None:
    # Given a VP at a 500-person manufacturer in Japan
    decision = a_decision()
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW))
    # Then the rep sees who, what role, and what kind of company
    for fact in ("Jane Doe", "VP of Operations", "Acme Robotics", "500 employees", "Manufacturing", "JP"):
        assert fact in text


def test_slack_message_shows_rank_score_and_its_split() -> None:
    # Given a rank-A lead with fit 30 and intent 56.5
    decision = a_decision()
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW))
    # Then the total, rank and both parts are stated
    assert "Rank A · 86.5 points (fit 30, intent 56.5)" in text


def test_slack_message_lists_only_the_three_biggest_reasons_biggest_first() -> None:
    # Given five score reasons
    decision = a_decision()
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW))
    # Then the top three appear in order with their values, and the small ones do not
    first, second, third = (
        text.index(r) for r in ("Demo request +40", "Decision maker +15", "Pricing page view +13.5")
    )
    assert first < second < third
    assert "Email open" not in text
    assert "300–999 employees" not in text


def test_slack_message_shows_the_deadline_in_the_reps_timezone() -> None:
    # Given a rank-A SLA of one hour for a rep in Tokyo, rendered the moment it was decided
    decision = a_decision()
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW))
    # Then the deadline reads in JST with its day
    assert "Call within 1 hour — by 11:05 JST (Tue 24 Nov)" in text


def test_slack_message_counts_the_window_from_now_when_rendered_late() -> None:
    # Given a decision rendered 20 minutes after it was made
    decision = a_decision()
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW + timedelta(minutes=20)))
    # Then the rep is promised only the time that is left
    assert "Call within 40 minutes — by 11:05 JST (Tue 24 Nov)" in text


def test_slack_message_says_overdue_once_the_deadline_has_passed() -> None:
    # Given a decision rendered after its SLA closed
    decision = a_decision()
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW + timedelta(hours=2)))
    # Then it asks for a call now and names the missed deadline
    assert "Overdue — call now (was due by 11:05 JST (Tue 24 Nov))" in text


def test_slack_message_shows_what_they_did_and_when_in_the_reps_timezone() -> None:
    # Given a demo request at 10:03 JST after a pricing inquiry the day before
    decision = a_decision()
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW))
    # Then both actions are listed with local times, the trigger once
    assert "Demo request — 10:03 JST (Tue 24 Nov)" in text
    assert "Pricing inquiry — 10:05 JST (Mon 23 Nov)" in text
    assert text.count("Demo request — ") == 1


def test_slack_message_lists_the_confirmed_bant_facts_only() -> None:
    # Given budget and need confirmed
    decision = a_decision(bant=Bant(budget=True, need=True))
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW))
    # Then those two are shown and the unconfirmed ones are not
    assert "Budget ✓, Need ✓" in text
    assert "Authority" not in text


def test_slack_message_carries_the_routing_reason() -> None:
    # Given a decision made because the rep owns the account
    decision = a_decision(reason="You own the Acme Robotics account")
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW))
    # Then the rep reads why it is theirs
    assert "You own the Acme Robotics account" in text


def test_slack_fallback_text_names_the_lead_and_the_deadline_for_notifications() -> None:
    # Given a routed lead
    decision = a_decision()
    # When it is rendered for Slack
    message = render_slack_assignment(decision, now=NOW)
    # Then the notification text alone says who and by when
    assert "Jane Doe" in message.text
    assert "Demo request" in message.text
    assert "11:05 JST" in message.text


def test_slack_message_links_to_the_console_when_given_one() -> None:
    # Given a console URL
    decision = a_decision()
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW, console_url=CONSOLE + "/"))
    # Then the context links to the lead's page
    assert f"<{CONSOLE}/leads/lead-42|Open in console>" in text


def test_slack_buttons_accept_reject_and_log_contact_carry_the_decision() -> None:
    # Given a routed lead
    decision = a_decision()
    # When it is rendered for Slack
    (actions,) = blocks_of_type(render_slack_assignment(decision, now=NOW), "actions")
    # Then the three buttons carry ids the interaction handler can parse back
    assert [e["action_id"] for e in actions["elements"]] == [ACTION_ACCEPT, ACTION_REJECT, ACTION_CONTACTED]
    assert ACTION_ACCEPT == "lead_accept"
    assert ACTION_REJECT == "lead_reject"
    assert ACTION_CONTACTED == "lead_contacted"
    for element in actions["elements"]:
        value = parse_action_value(element["value"])
        assert (value.decision_id, value.lead_id) == ("dec-9", "lead-42")


# --- Slack: Block Kit validity and limits ---


@pytest.mark.parametrize("locale", ["en", "ja"])
@pytest.mark.parametrize("unassigned", [False, True])
def test_every_block_is_valid_block_kit(locale: Literal["en", "ja"], unassigned: bool) -> None:
    # Given a decision for a rep or for the fallback queue, in either language
    decision = a_decision(locale=locale, unassigned=unassigned)
    # When it is rendered for Slack
    message = render_slack_assignment(decision, now=NOW, console_url=CONSOLE)
    # Then slack_sdk parses and validates every block, nested elements included
    for raw in message.blocks:
        block = Block.parse(raw)
        assert block is not None, raw["type"]
        block.validate_json()
        assert block.to_dict()["type"] == raw["type"]


@pytest.mark.parametrize("locale", ["en", "ja"])
@pytest.mark.parametrize("unassigned", [False, True])
async def test_the_slack_standin_accepts_the_rendered_message(locale: Literal["en", "ja"], unassigned: bool) -> None:
    # Given a rendered message and the Slack stand-in, which checks what Slack checks
    message = render_slack_assignment(a_decision(locale=locale, unassigned=unassigned), now=NOW, console_url=CONSOLE)
    transport = httpx.ASGITransport(app=create_slack_app("xoxb-test"))
    # When it is posted as the notifier would
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as slack:
        response = await slack.post(
            "/api/chat.postMessage",
            json={"channel": message.channel, "text": message.text, "blocks": message.blocks},
            headers={"Authorization": "Bearer xoxb-test"},
        )
    # Then it is accepted
    assert response.json()["ok"] is True, response.json()


def test_message_has_header_section_fields_context_and_actions() -> None:
    # Given a routed lead
    decision = a_decision()
    # When it is rendered for Slack
    message = render_slack_assignment(decision, now=NOW)
    # Then the layout has each part the rep relies on
    types = [b["type"] for b in message.blocks]
    assert types[0] == "header"
    assert {"section", "context", "actions"} <= set(types)
    assert any("fields" in b for b in blocks_of_type(message, "section"))


def test_huge_user_values_stay_within_slack_limits() -> None:
    # Given a person whose every field is enormous, with forty long reasons
    huge = "X&<" * 5000
    person = a_person(name=huge, title=huge, company=huge, industry=huge, country=huge)
    reasons = [ScoreReason(rule=f"r{i}", label=huge, points=i, value=i) for i in range(40)]
    decision = a_decision(person=person, reasons=reasons, reason=huge)
    # When it is rendered for Slack
    message = render_slack_assignment(decision, now=NOW, console_url=CONSOLE)
    # Then no block breaks Slack's limits
    assert len(message.blocks) <= 50
    for block in message.blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if "text" in block and block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.to_dict()


# --- Slack: injection ---


def test_mentions_and_links_in_user_text_are_inert_in_slack() -> None:
    # Given a person whose name and company try to ping the channel and hide a link
    person = a_person(name="<!channel> Eve", company="<http://evil.example|Acme> & Co", title="<@U0ADMIN>")
    decision = a_decision(person=person, reason="Matched <!here>")
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW))
    # Then Slack sees escaped characters, never the control sequences
    assert "&lt;!channel&gt; Eve" in text
    assert "&lt;http://evil.example|Acme&gt; &amp; Co" in text
    assert "&lt;@U0ADMIN&gt;" in text
    assert "<!" not in text
    assert "<http://evil" not in text
    assert "<@" not in text


def test_newlines_in_user_text_cannot_forge_extra_lines() -> None:
    # Given a name that tries to add a fake instruction line
    person = a_person(name="Jane\n*Call the CEO at 555-0100*")
    decision = a_decision(person=person)
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW))
    # Then the name stays on its own line
    assert "Jane *Call the CEO at 555-0100*" in text


# --- Japanese ---


def test_japanese_rep_gets_japanese_labels_and_deadline() -> None:
    # Given a rep whose locale is Japanese
    decision = a_decision(locale="ja", person=a_person(name="山田 太郎", company="株式会社サンプル"))
    # When it is rendered for Slack
    message = render_slack_assignment(decision, now=NOW)
    text = all_mrkdwn(message)
    # Then the trigger, the call to action and the deadline are in Japanese, in JST
    assert "デモ依頼 — 11月24日(火) 10:03 JST" in text
    assert "1時間以内に電話してください — 11月24日(火) 11:05 JST" in text
    assert "山田 太郎" in text
    assert "従業員500名" in text
    assert "Aランク" in message.blocks[0]["text"]["text"]


def test_japanese_buttons_are_labelled_in_japanese() -> None:
    # Given a rep whose locale is Japanese
    decision = a_decision(locale="ja")
    # When it is rendered for Slack
    (actions,) = blocks_of_type(render_slack_assignment(decision, now=NOW), "actions")
    # Then the buttons read in Japanese
    assert [e["text"]["text"] for e in actions["elements"]] == ["受諾", "却下", "連絡を記録"]


def test_every_event_kind_is_named_in_both_languages() -> None:
    # Given the label table
    # When every event kind is looked up
    # Then each has a non-empty English and Japanese name
    for kind in EventKind:
        assert EVENT_KIND_LABELS[kind]["en"]
        assert EVENT_KIND_LABELS[kind]["ja"]


# --- Fallback queue ---


def test_unassigned_lead_goes_to_the_fallback_queue_saying_nobody_was_eligible() -> None:
    # Given a decision with no owner, parked in a queue channel
    decision = a_decision(unassigned=True)
    # When it is rendered for Slack
    message = render_slack_assignment(decision, now=NOW)
    # Then it goes to the queue and says why
    assert message.channel == "C0FALLBACK"
    assert "Nobody was eligible for this lead" in all_mrkdwn(message)


def test_unassigned_lead_does_not_say_why_you() -> None:
    # Given a decision with no owner
    decision = a_decision(unassigned=True, reason="No rep in enterprise-jp had capacity")
    # When it is rendered for Slack
    text = all_mrkdwn(render_slack_assignment(decision, now=NOW))
    # Then the routing reason is labelled as routing, since nobody was chosen
    assert "*Routing:* No rep in enterprise-jp had capacity" in text
    assert "Why you" not in text


def test_unassigned_lead_offers_only_to_take_it() -> None:
    # Given a decision with no owner
    decision = a_decision(unassigned=True)
    # When it is rendered for Slack
    (actions,) = blocks_of_type(render_slack_assignment(decision, now=NOW), "actions")
    # Then whoever reads the queue can only claim it
    assert [e["action_id"] for e in actions["elements"]] == [ACTION_ACCEPT]


def test_unassigned_lead_without_a_queue_has_no_recipient() -> None:
    # Given a decision with neither owner nor queue
    decision = a_decision(unassigned=True, queue="")
    # When it is rendered for Slack
    # Then the renderer refuses, naming the decision
    with pytest.raises(NoRecipientError) as caught:
        render_slack_assignment(decision, now=NOW)
    assert caught.value.decision_id == "dec-9"


# --- Email ---


def test_email_goes_to_the_owner_with_a_subject_naming_lead_and_deadline() -> None:
    # Given a routed lead
    decision = a_decision()
    # When it is rendered as email
    email = render_email_assignment(decision, now=NOW)
    # Then it is addressed to the rep and the subject says what and by when
    assert email.to == "ken.sato@seller.example"
    assert email.subject == ("[Rank A] Demo request: Jane Doe, Acme Robotics — act by 11:05 JST (Tue 24 Nov)")


@pytest.mark.parametrize("part", ["text", "html"])
def test_email_carries_the_same_facts_as_slack(part: str) -> None:
    # Given a routed lead
    decision = a_decision()
    # When it is rendered as email
    body = getattr(render_email_assignment(decision, now=NOW), part)
    # Then each body has who, company, score, top reason, activity, BANT, reason and deadline
    for fact in (
        "Jane Doe",
        "VP of Operations",
        "Acme Robotics",
        "500 employees",
        "Rank A · 86.5 points",
        "Demo request +40",
        "Demo request — 10:03 JST (Tue 24 Nov)",
        "Budget ✓, Need ✓",
        "Owner of the Acme Robotics account",
        "Call within 1 hour — by 11:05 JST (Tue 24 Nov)",
    ):
        assert fact in body


def test_email_in_japanese_uses_japanese_labels() -> None:
    # Given a Japanese-speaking rep
    decision = a_decision(locale="ja")
    # When it is rendered as email
    email = render_email_assignment(decision, now=NOW)
    # Then subject and body are in Japanese
    assert email.subject.startswith("【Aランク】デモ依頼：Jane Doe（Acme Robotics）")
    assert "1時間以内に電話してください" in email.text
    assert "スコアの根拠" in email.html


def test_html_email_escapes_markup_in_user_text() -> None:
    # Given a name that carries a script and a company that carries a link
    person = a_person(name="<script>alert(1)</script>", company='<a href="http://evil.example">Acme</a>')
    decision = a_decision(person=person)
    # When it is rendered as email
    html = render_email_assignment(decision, now=NOW).html
    # Then the markup is shown as text, never live
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert 'href="http://evil.example"' not in html


def test_plain_text_email_keeps_user_text_verbatim() -> None:
    # Given a company name with an ampersand
    decision = a_decision(person=a_person(company="Smith & Sons"))
    # When it is rendered as email
    text = render_email_assignment(decision, now=NOW).text
    # Then the text part shows it as typed, not as an HTML entity
    assert "Smith & Sons" in text
    assert "&amp;" not in text


def test_email_subject_stays_on_one_line_whatever_the_name() -> None:
    # Given a name that tries to inject an email header
    decision = a_decision(person=a_person(name="Jane\r\nBcc: all@victim.example"))
    # When it is rendered as email
    subject = render_email_assignment(decision, now=NOW).subject
    # Then the subject has no line breaks
    assert "\r" not in subject
    assert "\n" not in subject


def test_email_links_to_the_console_when_given_one() -> None:
    # Given a console URL
    decision = a_decision()
    # When it is rendered as email
    email = render_email_assignment(decision, now=NOW, console_url=CONSOLE)
    # Then both parts link to the lead's page
    assert f'href="{CONSOLE}/leads/lead-42"' in email.html
    assert f"{CONSOLE}/leads/lead-42" in email.text


def test_email_to_a_queue_without_an_address_has_no_recipient() -> None:
    # Given an unassigned lead parked in a Slack-only queue
    decision = a_decision(unassigned=True)
    # When it is rendered as email
    # Then the renderer refuses rather than guessing an address
    with pytest.raises(NoRecipientError):
        render_email_assignment(decision, now=NOW)


def test_email_to_a_queue_mailbox_says_nobody_was_eligible() -> None:
    # Given an unassigned lead parked in a shared mailbox
    decision = a_decision(unassigned=True, queue="leads-queue@seller.example")
    # When it is rendered as email
    email = render_email_assignment(decision, now=NOW)
    # Then the mailbox receives it with the reason
    assert email.to == "leads-queue@seller.example"
    assert "Nobody was eligible for this lead" in email.text


# --- Keys and action values ---


def test_idempotency_key_joins_decision_and_kind() -> None:
    # Given a decision id and a notification kind
    # When a key is made
    # Then it names both, so each notification of each decision is sent once
    assert idempotency_key("dec-9", "slack") == "dec-9:slack"
    assert idempotency_key("dec-9", "slack") != idempotency_key("dec-9", "email")


def test_action_value_round_trips_ids_containing_separators() -> None:
    # Given ids containing characters a delimiter format would trip on
    value = action_value("dec|9:x", 'lead"42')
    # When the value is parsed back
    parsed = parse_action_value(value)
    # Then both ids come back unchanged
    assert (parsed.decision_id, parsed.lead_id) == ("dec|9:x", 'lead"42')
    assert json.loads(value) == {"decision_id": "dec|9:x", "lead_id": 'lead"42'}


@pytest.mark.parametrize("value", ["dec-9|lead-42", "[]", '{"decision_id": "dec-9"}'])
def test_malformed_action_values_are_rejected(value: str) -> None:
    # Given a value not written by the renderer
    # When it is parsed
    # Then a ValueError says so
    with pytest.raises(ValueError, match="action value"):
        parse_action_value(value)
