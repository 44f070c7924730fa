"""The console in a real headless Chromium against the real pipeline: queue, lead page, roles, XSS as text."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadflow import stack
from services.router.console.settings import ConsoleSettings
from tests.conftest import StackUrls, eventually
from tests.e2e.helpers import API_KEY, lead_id, unique_person
from tests.observability.console_app import build_app, serve
from tests.observability.webdriver import Browser, WebDriverError, headless_chromium

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANAGER = "console-manager-token-7"
VIEWER = "console-viewer-token-7"
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


@pytest.fixture(scope="module")
def console(stack_urls: StackUrls) -> Iterator[str]:
    """The console, pointed at the test stack's router database, scoring, notifier and router API."""
    lay = stack.layout_for_tests()
    settings = ConsoleSettings(
        manager_tokens=MANAGER,
        viewer_tokens=VIEWER,
        scoring_url=stack_urls.scoring,
        notifier_url=stack_urls.notifier,
        router_url=stack_urls.router,
        queue_refresh_s=3600,
    )
    app = build_app(
        database_url=stack.database_url(lay), routing_path=lay.config_dir / "routing.yaml", settings=settings
    )
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium() as chromium:
        yield chromium


async def _routed_lead(stack_urls: StackUrls, **person_fields: Any) -> tuple[str, dict[str, Any]]:
    """Post a demo request through ingest and wait until the router gave the lead an owner."""
    person = unique_person(**person_fields)
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{stack_urls.ingest}/v1/events/form",
            json={**person, "form": "demo_request"},
            headers={"X-API-Key": API_KEY},
        )
        assert response.status_code == 202, response.text

        async def routed() -> dict[str, Any] | None:
            answer = await http.get(f"{stack_urls.router}/v1/leads/{lead_id(person)}")
            body: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
            return body if body.get("routed") else None

        await eventually(routed)
    return lead_id(person), person


def _sign_in(browser: Browser, console: str, token: str, path: str) -> None:
    browser.get(f"{console}/console/login?next={path}")
    browser.type(browser.find("input[name=token]"), token)
    browser.click(browser.find("button[type=submit]"))
    browser.wait_for_page(leaving="/console/login")


async def test_a_viewer_sees_the_queue_opens_a_lead_and_reads_its_explanation(
    stack_urls: StackUrls, console: str, browser: Browser
) -> None:
    # Given a VP who requested a demo and was routed
    lid, person = await _routed_lead(stack_urls)
    # When a viewer opens the queue with their token in the link
    browser.get(f"{console}/console/queue?token={VIEWER}")
    # Then the token leaves the address bar, and the lead is listed with its rank and SLA countdown
    assert "token=" not in browser.url
    row = browser.find(f'tr[data-lead-id="{lid}"]')
    assert person["name"] in browser.text(row)
    assert "due in" in browser.text(row)
    # When they open the lead
    browser.click(browser.find(f'tr[data-lead-id="{lid}"] a.lead-link'))
    # Then its page explains the score and the routing, and lists the alerts sent
    assert browser.text(browser.find("#lead-name")) == person["name"]
    assert "Demo request" in browser.text(browser.find("#reasons"))
    assert "demo request" in browser.text(browser.find("#why")).lower()
    assert "routing" in browser.text(browser.find("#timeline"))
    # And a viewer is offered no manager action
    assert browser.find_all("#reassign") == []


async def test_a_script_in_a_lead_name_is_shown_as_text_and_never_runs(
    stack_urls: StackUrls, console: str, browser: Browser
) -> None:
    # Given a lead whose name is an XSS payload
    tag = uuid.uuid4().hex[:6]
    lid, person = await _routed_lead(stack_urls, name=f"{XSS} {tag}")
    # When the queue and the lead page render it
    browser.get(f"{console}/console/queue?token={VIEWER}")
    queue_text = browser.text(browser.find(f'tr[data-lead-id="{lid}"]'))
    browser.get(f"{console}/console/leads/{lid}")
    # Then the browser shows the payload as text, and none of it executed or became an element
    assert person["name"] in queue_text
    assert browser.text(browser.find("#lead-name")) == person["name"]
    assert browser.execute("return window.__xss === undefined") is True
    assert browser.execute("return document.querySelectorAll('main script, main img').length") == 0


async def test_a_manager_signs_in_and_gets_the_reassign_action(
    stack_urls: StackUrls, console: str, browser: Browser
) -> None:
    # Given a routed lead and a manager signing in through the form
    lid, _ = await _routed_lead(stack_urls, company=f"Kanto Robotics {uuid.uuid4().hex[:6]}")
    _sign_in(browser, console, MANAGER, f"/console/leads/{lid}")
    # When they submit a reassignment
    assert "manager" in browser.text(browser.find("header .who"))
    browser.click(browser.find("#reassign button[type=submit]"))
    # Then the page reports what the router's API answered (htmx swaps the result in place)
    result = await eventually(lambda: _text_of(browser, "#action-result"), within=10)
    assert "Reassigned to" in result
    # And the router really gave the lead to the rep the manager picked
    picked = result.split("Reassigned to", 1)[1].strip().rstrip(".")
    async with httpx.AsyncClient(timeout=10) as http:
        lead = (await http.get(f"{stack_urls.router}/v1/leads/{lid}")).json()
    assert lead["owner"]["rep_id"] == picked


async def test_the_team_page_shows_load_capacity_and_the_mql_to_sql_target(console: str, browser: Browser) -> None:
    browser.get(f"{console}/console/teams/inside?token={VIEWER}")
    reps = browser.text(browser.find("#reps"))
    assert "Aiko Tanaka" in reps
    assert "/ 1000" in reps
    assert "target 60%" in browser.text(browser.find("main"))


async def test_a_screenshot_of_the_queue_is_taken(
    stack_urls: StackUrls, console: str, browser: Browser, tmp_path: Path
) -> None:
    # Given a few routed leads, one of them from Japan (romanized: CI hosts may lack CJK fonts)
    await _routed_lead(
        stack_urls, name="Tanaka Taro", company="Sample Manufacturing K.K.", title="Sales Director", country="JP"
    )
    # When the queue is captured
    browser.get(f"{console}/console/queue?token={MANAGER}")
    shot = tmp_path / "console.png"
    browser.screenshot(shot)
    # Then it is a PNG (LEADFLOW_UPDATE_SCREENSHOT=1 refreshes docs/console.png with it)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("LEADFLOW_UPDATE_SCREENSHOT") == "1":
        shutil.copy(shot, ROOT / "docs" / "console.png")


async def _text_of(browser: Browser, css: str) -> str | None:
    found = browser.find_all(css)
    try:
        text = browser.text(found[0]) if found else ""
    except WebDriverError as exc:
        if "stale element" not in str(exc):
            raise
        return None  # the page re-rendered between finding the element and reading it: look again
    return text or None
