"""Facts about the machine a run measured, so a figure is never read without its context."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from leadflow import stack

PACKAGES = ("aiokafka", "fastapi", "uvicorn", "pydantic", "SQLAlchemy", "asyncpg", "orjson", "httpx")


def _first_line(argv: list[str]) -> str | None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)  # noqa: S603 - fixed argv
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else None


def _meminfo_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: anything well above 0 means other work shared the machine."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_facts() -> dict[str, object]:
    """Cores, memory, CPU model, kernel and the versions of everything the figures depend on."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    kafka_jars = sorted(stack.KAFKA_LIBS.glob("kafka-clients-*.jar"))
    return {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mb": _meminfo_mb(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "java": _first_line(["java", "-version"]),
        "kafka": kafka_jars[-1].stem.removeprefix("kafka-clients-") if kafka_jars else None,
        "postgres": _first_line([str(stack._pg_bindir() / "postgres"), "--version"]),
        "packages": versions,
        "git_commit": _first_line(["git", "-C", str(stack.ROOT), "rev-parse", "--short", "HEAD"]),
        "load_average_at_start": load_average(),
    }
