"""Names and companies written to attack the places they are shown: Slack, email, the console, the database."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StackUrls
from tests.e2e.helpers import lead_id
from tests.hostile.helpers import email_alert, mrkdwn_texts, post_demo_request, slack_alert, tagged

pytestmark = pytest.mark.integration

# What Slack acts on inside mrkdwn: broadcasts, user mentions and links with a label that hides the target.
SLACK_CONTROLS = ("<!channel>", "<!here>", "<@U0TEST001>", "<https://evil.example/login|")


async def test_slack_mentions_and_links_in_a_name_are_shown_not_acted_on(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a lead whose name pings the whole channel and whose company hides a phishing link
    tag = tagged()
    await post_demo_request(
        http,
        stack_urls,
        name=f"<!channel> <!here> <@U0TEST001> Mallory {tag}",
        company=f"<https://evil.example/login|Click to verify> Corp {tag}",
    )
    # When the owner is alerted on Slack
    message = await slack_alert(http, stack_urls, tag)
    # Then no mrkdwn text carries a live mention or link, and the name is shown escaped instead
    texts = mrkdwn_texts(message)
    assert not [t for t in texts for control in SLACK_CONTROLS if control in t]
    assert any("&lt;!channel&gt;" in t for t in texts)
    assert any("&lt;https://evil.example/login|Click to verify&gt;" in t for t in texts)


async def test_html_in_a_name_is_escaped_in_the_email(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # Given a lead whose name and company carry a script and an image with an onerror handler
    tag = tagged()
    await post_demo_request(
        http,
        stack_urls,
        name=f"<script>alert('x')</script> Eve {tag}",
        company=f'<img src=x onerror="alert(1)"> Corp {tag}',
    )
    # When the owner's email arrives
    mail = await email_alert(http, stack_urls, tag)
    # Then the HTML part shows the markup as text, never as markup
    html = mail["html"]
    assert "<script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html


async def test_a_line_break_in_a_name_cannot_add_a_mail_header(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # Given a name that tries to smuggle a Bcc header into the email's subject line
    tag = tagged()
    await post_demo_request(http, stack_urls, name=f"Eve {tag}\r\nBcc: attacker@evil.example")
    # When the owner's email arrives
    mail = await email_alert(http, stack_urls, tag)
    # Then it went to the owner alone, and the subject is one line
    assert len(mail["rcpt_tos"]) == 1
    assert "evil.example" not in mail["rcpt_tos"][0]
    assert "\n" not in mail["subject"]


async def test_terminal_escape_sequences_in_a_name_never_reach_a_rendering(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a name with ANSI escapes that would clear an operator's terminal or recolour it
    tag = tagged()
    await post_demo_request(http, stack_urls, name=f"\x1b[2J\x1b[31mEve {tag}\x1b[0m")
    # When the owner is alerted
    message = await slack_alert(http, stack_urls, tag)
    mail = await email_alert(http, stack_urls, tag)
    # Then no rendering carries the escape character
    assert "\x1b" not in str(message)
    assert "\x1b" not in mail["subject"] + (mail["text"] or "") + (mail["html"] or "")


async def test_the_alert_inbox_page_shows_markup_as_text(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # Given a lead whose name carries a script, alerted on Slack and by email
    tag = tagged()
    await post_demo_request(http, stack_urls, name=f"<script>alert('{tag}')</script> Eve {tag}")
    await slack_alert(http, stack_urls, tag)
    await email_alert(http, stack_urls, tag)
    # When an operator opens the local alert inbox
    page = (await http.get(f"{stack_urls.standins}/")).text
    # Then the script is shown as text there too
    assert f"<script>alert('{tag}')" not in page
    assert tag in page


async def test_sql_in_a_name_and_company_is_stored_and_shown_verbatim(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a lead named like a SQL injection, at a company named like another
    tag = tagged()
    name = f"Robert'); DROP TABLE scoring.leads;-- {tag}"
    company = f"x' OR '1'='1' -- {tag}"
    body = await post_demo_request(http, stack_urls, name=name, company=company)
    # When the owner is alerted (so scoring, router and notifier all stored and read the lead)
    message = await slack_alert(http, stack_urls, tag)
    mail = await email_alert(http, stack_urls, tag)
    # Then the name and company arrive exactly as typed, and nothing ran: scoring still has its tables and reads
    # the lead back from them
    assert name in message["text"]
    assert company in message["text"]
    assert name in mail["text"]
    stored = await http.get(f"{stack_urls.scoring}/v1/leads/{lead_id(body)}/score")
    assert stored.status_code == 200
    assert stored.json()["lead_id"] == lead_id(body)
