"""Every metric name LeadFlow defines, as Prometheus exposes it: the dashboard and the rules must use only these."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "leadflow.rules.yml"
METRIC_MODULES = (
    "shared.metrics",
    "services.ingest.metrics",
    "services.scoring.metrics",
    "services.router.metrics",
    "services.notifier.metrics",
)
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
    "summary": ("_sum", "_count"),
}
NAME = re.compile(r"\b(leadflow[:_][a-z0-9_:]+)")


def exposed_names() -> set[str]:
    """Sample names of every metric registered by LeadFlow's metric modules."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("leadflow_"):
            names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def recorded_names() -> set[str]:
    """Names produced by the recording rules."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def names_in(expr: str) -> set[str]:
    """The LeadFlow metric names a PromQL expression refers to."""
    return set(NAME.findall(expr))
