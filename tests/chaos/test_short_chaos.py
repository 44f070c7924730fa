"""The short chaos variant inside `make test`: crashes, a Slack outage and poison under load, counted."""

from __future__ import annotations

import pytest

from chaos.report import format_text
from chaos.runner import run_chaos, write_report
from chaos.settings import ChaosSettings
from leadflow import stack
from tests.conftest import StackUrls

pytestmark = pytest.mark.integration


async def test_under_crashes_a_slack_outage_and_poison_nothing_is_lost_or_doubled(
    stack_urls: StackUrls, test_layout: stack.Layout
) -> None:
    # Given the test stack under a steady load of leads whose outcome is known
    settings = ChaosSettings.short()
    # When scoring and the notifier are killed mid-batch, Slack rate-limits, and poison lands in every topic
    report = await run_chaos(test_layout, settings, say=False)
    write_report(report, settings.output)
    # Then every accepted lead was scored once, every rank-A lead alerted once on each channel, nobody else
    # alerted, every poison record dead-lettered with its error, and the pipeline recovered after each fault
    assert report.ok, format_text(report)
