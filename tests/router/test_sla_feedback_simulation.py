"""The router's pure domain, continued: SLA alarms and escalation, sales feedback, what-if replays."""

from __future__ import annotations

from datetime import timedelta

from services.router.domain import (
    OutOfOffice,
    RepOverride,
    StoredDecision,
    away_reason,
    effective_rep,
    escalation_channel,
    escalation_contact,
    read_feedback,
    reassignment_id_for,
    rejecting_rep,
    render_report,
    replay,
    sla_timers,
    timer_id_for,
)
from shared.events import Channel, EventKind, LeadEvent, LeadScored, SlaEventKind, SlaKind
from tests.router.test_domain import NOW, lead, make_config, rep


def feedback_event(kind: EventKind, event_id: str, minutes: int = 0, **details: str) -> LeadEvent:
    return LeadEvent(
        event_id=event_id,
        lead_id="ld-1",
        channel=Channel.FEEDBACK,
        kind=kind,
        occurred_at=NOW + timedelta(minutes=minutes),
        received_at=NOW + timedelta(minutes=minutes),
        source="test",
        details=dict(details),
    )


def stored(
    decision_id: str, scored: LeadScored, minutes: int, rep_id: str | None, team: str = "inside"
) -> StoredDecision:
    return StoredDecision(
        decision_id=decision_id,
        lead=scored,
        decided_at=NOW + timedelta(minutes=minutes),
        rep_id=rep_id,
        team_id=team,
        rule_id="default",
    )


def company_lead(company_key: str) -> LeadScored:
    scored = lead()
    assert scored.person is not None
    return scored.model_copy(update={"person": scored.person.model_copy(update={"company_key": company_key})})


# --- SLA alarms -----------------------------------------------------------------------------------


def test_a_decision_gets_a_reminder_at_each_fraction_then_a_breach_at_the_deadline() -> None:
    # Given the default reminders at 50% and 90% of a one-hour rank-A window
    timers = sla_timers("dec_1", SlaKind.RANK_A, NOW, make_config())
    # Then there are two reminders and one breach, in firing order
    assert [(t.kind, t.fraction, t.fire_at) for t in timers] == [
        (SlaEventKind.REMINDER, 0.5, NOW + timedelta(minutes=30)),
        (SlaEventKind.REMINDER, 0.9, NOW + timedelta(minutes=54)),
        (SlaEventKind.BREACH, None, NOW + timedelta(hours=1)),
    ]


def test_timer_ids_are_the_same_every_time_and_differ_per_alarm() -> None:
    first = [t.timer_id for t in sla_timers("dec_1", SlaKind.MQL, NOW, make_config())]
    again = [t.timer_id for t in sla_timers("dec_1", SlaKind.MQL, NOW + timedelta(seconds=5), make_config())]
    assert first == again
    assert len(set(first)) == 3
    assert timer_id_for("dec_1", SlaEventKind.BREACH) == first[-1]


def test_a_reassignment_id_depends_only_on_the_decision_it_replaces() -> None:
    assert reassignment_id_for("dec_1") == reassignment_id_for("dec_1")
    assert reassignment_id_for("dec_1") != reassignment_id_for("dec_2")


def test_a_breach_escalates_to_the_owners_home_team_manager() -> None:
    contact = escalation_contact("aoi", "inside", make_config())
    assert (contact.name, contact.slack_id) == ("Mana Ger", "U0MANAGER")


def test_a_breach_is_also_posted_to_the_fallback_channel_when_the_team_has_none() -> None:
    assert escalation_channel("inside", make_config()) == "#leads-unassigned"


# --- availability ---------------------------------------------------------------------------------


def test_a_rep_on_leave_now_is_away_with_the_return_date() -> None:
    leave = OutOfOffice(start=NOW - timedelta(days=1), end=NOW + timedelta(days=6))
    current = effective_rep(make_config().reps[0], RepOverride(out_of_office=[leave]))
    assert away_reason(current, NOW) == "out of office until 2026-06-08 10:00"


def test_a_rep_who_is_off_shift_is_not_away() -> None:
    # Shift matters for who takes a new rank-A lead, not for who may keep the leads they hold.
    assert away_reason(make_config().reps[0], NOW.replace(hour=23)) is None


# --- feedback -------------------------------------------------------------------------------------


def test_each_contacted_feedback_counts_one_follow_up_attempt() -> None:
    events = [
        feedback_event(EventKind.SALES_CONTACTED, "e2", minutes=20),
        feedback_event(EventKind.SALES_CONTACTED, "e1", minutes=5),
        feedback_event(EventKind.SALES_BANT, "e3"),
    ]
    feedback = read_feedback(events)
    assert (feedback.contacts, feedback.first_contact_at) == (2, NOW + timedelta(minutes=5))


def test_a_rejection_names_the_rep_by_email_or_id() -> None:
    config = make_config()
    by_email = read_feedback([feedback_event(EventKind.SALES_REJECTED, "e1", rep="BEN@example.com")]).rejections[0]
    assert rejecting_rep(by_email, "aoi", config) == "ben"


def test_a_rejection_without_a_known_rep_is_the_owners() -> None:
    config = make_config()
    rejection = read_feedback([feedback_event(EventKind.SALES_REJECTED, "e1", reason="not a fit")]).rejections[0]
    assert (rejecting_rep(rejection, "aoi", config), rejection.reason) == ("aoi", "not a fit")


# --- what-if --------------------------------------------------------------------------------------


def test_replaying_under_the_same_rules_changes_nobody() -> None:
    # Given three leads the live router shared round-robin over aoi, ben, chika
    config = make_config()
    history = [stored(f"d{i}", company_lead(f"co-{i}"), i, rep_id) for i, rep_id in enumerate(["aoi", "ben", "chika"])]
    # When they are replayed under the same rules
    report = replay(history, config)
    # Then nothing moves
    assert (report.leads, report.changed) == (3, 0)


def test_replaying_with_a_rep_removed_moves_their_leads_to_the_others() -> None:
    # Given six leads shared evenly by aoi, ben and chika
    history = [
        stored(f"d{i}", company_lead(f"co-{i}"), i, rep_id) for i, rep_id in enumerate(["aoi", "ben", "chika"] * 2)
    ]
    # When the candidate rules leave chika out of the team
    candidate = make_config(members=["aoi", "ben"])
    report = replay(history, candidate)
    # Then chika loses both leads and aoi and ben take three each
    assert report.reps_after == {"aoi": 3, "ben": 3}
    assert report.reps_before["chika"] - report.reps_after["chika"] == 2
    assert "chika" in render_report(report)


def test_a_replay_keeps_one_account_with_one_rep() -> None:
    # Given two leads of the same company
    history = [stored("d1", company_lead("co-x"), 1, "aoi"), stored("d2", company_lead("co-x"), 2, "ben")]
    # When replayed
    report = replay(history, make_config())
    # Then the account match sends the second to the first one's owner
    assert report.reps_after == {"aoi": 2}


def test_a_replay_sends_leads_nobody_can_take_to_the_queue() -> None:
    history = [stored("d1", company_lead("co-1"), 1, "aoi")]
    candidate = make_config(reps=[rep("aoi", active=False), rep("ben", active=False), rep("chika", active=False)])
    report = replay(history, candidate)
    assert report.reps_after == {"(queue)": 1}
    assert report.teams_after == {"unassigned": 1}
