"""`leadflow migrate` brings every service's schema to head, idempotently, for deployments that migrate as a step."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import StackUrls

pytestmark = pytest.mark.integration


def _migrate(stack_urls: StackUrls, *services: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadflow.cli", "migrate", *services],
        env={**os.environ, "DATABASE_URL": stack_urls.database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_schema_is_brought_to_head_and_a_second_run_changes_nothing(stack_urls: StackUrls) -> None:
    first = _migrate(stack_urls)
    again = _migrate(stack_urls)
    assert first.returncode == again.returncode == 0, first.stdout + first.stderr
    for schema in ("ingest", "scoring", "router", "notifier"):
        assert f"schema '{schema}' at head" in again.stdout


def test_an_unknown_service_is_refused_by_name(stack_urls: StackUrls) -> None:
    result = _migrate(stack_urls, "billing")
    assert result.returncode == 2
    assert "unknown service(s): billing" in result.stdout
