"""The image's one entrypoint (leadflow-service, written inline in the Dockerfile) and the compose file that uses it.

No Docker engine is needed: the script is taken out of the Dockerfile and run with a stand-in ``uvicorn`` and
``python`` on PATH that print what they were asked to run.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import ROOT

HEREDOC = re.compile(r"^COPY [^\n]*<<'(?P<tag>\w+)' (?P<dest>\S+)\n(?P<body>.*?)\n(?P=tag)$", re.M | re.S)


def inline_files() -> dict[str, str]:
    """The files the Dockerfile writes from here-documents, by their path in the image."""
    return {m["dest"]: m["body"] + "\n" for m in HEREDOC.finditer((ROOT / "Dockerfile").read_text())}


@pytest.fixture
def entrypoint(tmp_path: Path) -> Path:
    """leadflow-service as the image has it, plus stand-ins that echo their argv instead of serving."""
    script = tmp_path / "leadflow-service"
    script.write_text(inline_files()["/usr/local/bin/leadflow-service"])
    for fake in ("uvicorn", "python"):
        path = tmp_path / fake
        path.write_text(f'#!/bin/sh\necho {fake} "$@"\n')
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def run(entrypoint: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the entrypoint with the stand-ins first on PATH."""
    environ = {"PATH": f"{entrypoint.parent}:/usr/bin:/bin", **env}
    return subprocess.run(
        [str(entrypoint), *args], capture_output=True, text=True, check=False, env=environ, timeout=30
    )


@pytest.mark.parametrize(
    ("service", "port"), [("ingest", 8001), ("scoring", 8002), ("router", 8003), ("notifier", 8004)]
)
def test_a_service_name_serves_that_service_on_its_port_on_every_interface(
    entrypoint: Path, service: str, port: int
) -> None:
    # When the image is started with a service's name
    done = run(entrypoint, service)
    # Then uvicorn serves that service's app on its usual port, reachable from outside the container
    assert done.returncode == 0, done.stderr
    argv = done.stdout.split()
    assert argv[:2] == ["uvicorn", f"services.{service}.app:app"]
    assert argv[argv.index("--port") + 1] == str(port)
    assert argv[argv.index("--host") + 1] == "0.0.0.0"


def test_options_after_the_name_reach_uvicorn_last_so_they_win(entrypoint: Path) -> None:
    # When options follow the name
    done = run(entrypoint, "router", "--port", "9003", "--workers", "2")
    # Then they come after the defaults, where uvicorn lets the last occurrence of an option win
    argv = done.stdout.split()
    assert argv[-4:] == ["--port", "9003", "--workers", "2"]


def test_the_port_variable_moves_a_service_to_another_port(entrypoint: Path) -> None:
    # When PORT is set
    done = run(entrypoint, "scoring", PORT="9102")
    # Then the service listens there
    argv = done.stdout.split()
    assert argv[argv.index("--port") + 1] == "9102"


def test_migrate_runs_the_migration_script_the_image_ships(entrypoint: Path) -> None:
    # When the migration Job's mode is asked for
    done = run(entrypoint, "migrate")
    # Then it runs the migrate script written into the image, which imports every service's migrations
    assert done.stdout.split() == ["python", "/opt/leadflow/migrate.py"]
    assert "shared.db import create_engine, migrate" in inline_files()["/opt/leadflow/migrate.py"]


def test_the_standins_listen_on_every_interface_with_the_options_given(entrypoint: Path) -> None:
    # When the stand-ins are started as compose starts them
    done = run(entrypoint, "standins", "--http-port", "8090")
    # Then they are reachable from the other containers
    assert done.stdout.split() == ["python", "-m", "leadflow.standins", "--host", "0.0.0.0", "--http-port", "8090"]


def test_any_other_command_runs_as_given(entrypoint: Path) -> None:
    # When the first argument is not a mode of the entrypoint
    done = run(entrypoint, "uvicorn", "services.ingest.app:app", "--port", "9000")
    # Then the command runs unchanged
    assert done.stdout.split() == ["uvicorn", "services.ingest.app:app", "--port", "9000"]


def test_no_argument_prints_the_usage_and_fails(entrypoint: Path) -> None:
    # When the entrypoint is run with nothing to do
    done = run(entrypoint)
    # Then it explains its modes and exits non-zero, rather than starting something by surprise
    assert done.returncode == 2
    assert "ingest | scoring | router | notifier" in done.stdout


def test_the_migrate_script_compiles(tmp_path: Path) -> None:
    # Given the migrate script as the image writes it
    script = tmp_path / "migrate.py"
    script.write_text(inline_files()["/opt/leadflow/migrate.py"])
    # When Python compiles it
    done = subprocess.run(
        [sys.executable, "-m", "py_compile", str(script)], capture_output=True, text=True, check=False
    )
    # Then it is valid Python
    assert done.returncode == 0, done.stderr


def test_compose_starts_every_leadflow_container_through_a_mode_of_the_entrypoint() -> None:
    # Given docker-compose.yml's services built from the Dockerfile
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    # Then each LeadFlow container is built from it and its command starts with its own name, a mode it serves
    for name in ("ingest", "scoring", "router", "notifier", "standins"):
        assert services[name]["build"] == "."
        assert services[name]["command"][0] == name, name
