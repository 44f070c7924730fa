"""Migrations run out of the service's process: Alembic is never imported by a running service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.db import head_revision

ROOT = Path(__file__).resolve().parents[2]


def _script(folder: Path, name: str, revision: str, down: str) -> None:
    (folder / "versions").mkdir(parents=True, exist_ok=True)
    (folder / "versions" / name).write_text(
        f'"""{name}"""\nfrom alembic import op\n\nrevision: str = "{revision}"\ndown_revision = {down}\n'
    )


def test_the_head_is_the_revision_no_other_builds_on(tmp_path: Path) -> None:
    _script(tmp_path, "0001_a.py", "0001", "None")
    _script(tmp_path, "0003_c.py", "0003", '"0002"')
    _script(tmp_path, "0002_b.py", "0002", '"0001"')
    assert head_revision(tmp_path) == "0003"


def test_two_heads_or_a_merge_are_followed_as_alembic_would(tmp_path: Path) -> None:
    _script(tmp_path, "0001_a.py", "0001", "None")
    _script(tmp_path, "0002_b.py", "0002", '"0001"')
    _script(tmp_path, "0002_x.py", "0002x", '"0001"')
    # two heads: no single answer, so migrate() hands the decision to Alembic
    assert head_revision(tmp_path) is None
    _script(tmp_path, "0003_merge.py", "0003", '("0002", "0002x")')
    assert head_revision(tmp_path) == "0003"


@pytest.mark.parametrize("service", ["ingest", "scoring", "router", "notifier"])
def test_each_service_has_one_head(service: str) -> None:
    assert head_revision(ROOT / "services" / service / "migrations") is not None


@pytest.mark.parametrize("service", ["ingest", "scoring", "router", "notifier"])
def test_a_service_app_does_not_import_alembic(service: str) -> None:
    # ~9 MB that would stay in every service for a step taken once per release
    probe = f"import sys, services.{service}.app; print('alembic' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
