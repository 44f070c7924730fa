"""The console's pure parts: SLA countdowns, queue order, rates, tokens and roles, escaping in templates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.router.console import views
from services.router.console.auth import Role, csrf_ok, session_for
from services.router.console.routes import _env, _safe_next
from services.router.console.settings import ConsoleSettings

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_running_clock_counts_down_in_hours_and_minutes() -> None:
    countdown = views.countdown(NOW + timedelta(minutes=65), "open", NOW)
    assert countdown is not None
    assert (countdown.text, countdown.overdue) == ("due in 1h 05m", False)


def test_a_clock_past_its_deadline_says_how_late() -> None:
    countdown = views.countdown(NOW - timedelta(days=2, hours=3), "open", NOW)
    assert countdown is not None
    assert (countdown.text, countdown.overdue) == ("overdue by 2d 3h", True)


def test_a_stopped_clock_shows_its_outcome_instead_of_a_countdown() -> None:
    countdown = views.countdown(NOW - timedelta(hours=1), "met", NOW)
    assert countdown is not None
    assert (countdown.text, countdown.overdue) == ("met", False)


def test_the_queue_puts_overdue_leads_first_then_the_nearest_deadline_then_stopped_clocks() -> None:
    rows: list[dict[str, Any]] = [
        {"lead_id": "met", "sla_due_at": NOW - timedelta(hours=9), "sla_status": "met", "rank": "A"},
        {"lead_id": "later", "sla_due_at": NOW + timedelta(hours=5), "sla_status": "open", "rank": "A"},
        {"lead_id": "late", "sla_due_at": NOW - timedelta(minutes=5), "sla_status": "open", "rank": "B"},
        {"lead_id": "latest", "sla_due_at": NOW - timedelta(hours=3), "sla_status": "open", "rank": "C"},
        {"lead_id": "soon", "sla_due_at": NOW + timedelta(minutes=10), "sla_status": "open", "rank": "C"},
    ]
    assert [r["lead_id"] for r in views.order_queue(rows, NOW)] == ["latest", "late", "soon", "later", "met"]


def test_conversion_counts_leads_that_reached_sales_acceptance_or_later() -> None:
    bars = views.conversion_bars(
        [("A", "sql", 3), ("A", "mql", 1), ("B", "won", 1), ("B", "lost", 3), (None, "lead", 2)], order=("A", "B")
    )
    assert [(b.label, b.converted, b.total, b.percent) for b in bars] == [
        ("A", 3, 4, 75),
        ("B", 1, 4, 25),
        ("unknown", 0, 2, 0),
    ]


def test_mql_to_sql_is_measured_against_its_target() -> None:
    rate = views.mql_to_sql({"lead": 10, "mql": 4, "sql": 3, "won": 1, "lost": 2}, target=0.6)
    assert (rate.reached, rate.of, rate.on_target) == (4, 10, False)


def test_sla_compliance_ignores_clocks_still_running() -> None:
    rate = views.sla_compliance({"met": 9, "breached": 1, "open": 40})
    assert rate.rate == 0.9


def test_a_rep_with_no_capacity_is_full() -> None:
    assert views.load_percent(0, 0) == 100
    assert views.load_percent(3, 12) == 25


SETTINGS = ConsoleSettings(manager_tokens="m-1,m-2", viewer_tokens="v-1")


@pytest.mark.parametrize(("token", "role"), [("m-2", Role.MANAGER), ("v-1", Role.VIEWER)])
def test_a_configured_token_opens_a_session_with_its_role(token: str, role: Role) -> None:
    session = session_for(token, SETTINGS)
    assert session is not None
    assert session.role is role


@pytest.mark.parametrize("token", [None, "", "m-", "m-1 ", "V-1"])
def test_any_other_token_opens_nothing(token: str | None) -> None:
    assert session_for(token, SETTINGS) is None


def test_only_a_manager_may_act() -> None:
    manager, viewer = session_for("m-1", SETTINGS), session_for("v-1", SETTINGS)
    assert manager is not None
    assert viewer is not None
    assert (manager.can_act, viewer.can_act) == (True, False)


def test_a_form_must_echo_its_own_sessions_csrf_token() -> None:
    first, second = session_for("m-1", SETTINGS), session_for("m-2", SETTINGS)
    assert first is not None
    assert second is not None
    assert csrf_ok(first, first.csrf)
    assert not csrf_ok(first, second.csrf)
    assert not csrf_ok(first, None)


def test_the_development_token_is_refused_in_production() -> None:
    with pytest.raises(ValueError, match="CONSOLE_MANAGER_TOKENS"):
        ConsoleSettings(environment="production").check_production()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/console/", "/admin", "/console\\x"])
def test_sign_in_never_redirects_outside_the_console(target: str) -> None:
    assert _safe_next(target) == "/console/queue"


def test_templates_escape_a_script_in_a_name() -> None:
    html = _env.get_template("queue_table.html").render(
        items=[
            {
                "lead_id": "ld_" + "0" * 24,
                "name": "<script>alert(1)</script>",
                "company": "<b>ACME</b>",
                "rank": "A",
                "total": 75.0,
                "stage": "mql",
                "owner_name": "<img src=x onerror=alert(2)>",
                "why": "x",
                "countdown": None,
            }
        ],
        team=None,
        refresh_s=30,
        now=NOW,
    )
    assert "<script>" not in html
    assert "<img" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_the_front_page_keeps_a_sign_in_token_through_its_redirect() -> None:
    import httpx
    from fastapi import FastAPI

    from services.router.console import router as console_router

    app = FastAPI()
    app.include_router(console_router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as client:
        response = await client.get("/console/?token=abc")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/queue?token=abc"
