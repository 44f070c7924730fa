"""The result of a run: one JSON document (figures, machine, plan, raw details) and the table printed from it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from bench.plan import Target
from bench.stats import ratio, summarize

RESULT_SCHEMA = "leadflow-bench/1"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Figure:
    """One measured figure: its repeats, and the reference figures it is also shown as a ratio of."""

    name: str
    label: str
    unit: str
    values: tuple[float, ...]
    ratio_to: tuple[str, ...] = ()


def figure_entry(figure: Figure, target: Target | None, medians: Mapping[str, float]) -> dict[str, Any]:
    """The JSON of one figure: summary over repeats, target and whether it was met, ratios to references."""
    summary = summarize(figure.values) if figure.values else None
    median = summary.median if summary else None
    return {
        "label": figure.label,
        "unit": figure.unit,
        "summary": summary.as_dict() if summary else None,
        "target": target.label(figure.unit) if target else None,
        "target_met": target.met(median) if target else None,
        "ratios": {ref: ratio(median, medians.get(ref)) for ref in figure.ratio_to},
    }


def build_result(
    *,
    figures: Sequence[Figure],
    targets: Mapping[str, Target],
    machine: Mapping[str, Any],
    plan: Mapping[str, Any],
    details: Mapping[str, Any],
    started_at: datetime,
    finished_at: datetime,
    notes: Sequence[str],
) -> dict[str, Any]:
    """The whole result document; ratios use the medians of the reference figures of the same run."""
    medians = {f.name: summarize(f.values).median for f in figures if f.values}
    return {
        "schema": RESULT_SCHEMA,
        "started_at": started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "machine": dict(machine),
        "plan": dict(plan),
        "figures": {f.name: figure_entry(f, _target_for(f.name, targets), medians) for f in figures},
        "details": dict(details),
        "notes": list(notes),
    }


def _target_for(name: str, targets: Mapping[str, Target]) -> Target | None:
    if name in targets:
        return targets[name]
    # One memory target covers every service, each instance of it (``rss.ingest-2``) on its own.
    if name.startswith("rss.") and name.split(".")[1].split("-")[0] in ("ingest", "scoring", "router", "notifier"):
        return targets.get("rss.service_mb")
    return None


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "share":
        return f"{value * 100:.1f}%"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _short(reference: str) -> str:
    # "kafka.java.records_per_s" → "java", "kafka.java.p99_ms_at_rate" → "java p99"
    parts = reference.split(".")
    if len(parts) != 3:
        return reference
    return parts[1] if parts[2] == "records_per_s" else f"{parts[1]} {parts[2].split('_')[0]}"


def render_table(result: Mapping[str, Any]) -> str:
    """A plain-text table: figure, median, min–max, the issue's target (and ✔/✘), ratios to the references."""
    header = ("figure", "median", "min–max", "unit", "target", "ratios")
    rows: list[tuple[str, ...]] = [header]
    for entry in result["figures"].values():
        summary = entry["summary"]
        unit = entry["unit"]
        median = _number(summary["median"], unit) if summary else "—"
        spread = f"{_number(summary['min'], unit)}–{_number(summary['max'], unit)}" if summary else "—"
        target = entry["target"] or ""
        if entry["target_met"] is not None:
            target += " ✔" if entry["target_met"] else " ✘"
        ratios = ", ".join(
            f"{value:.3g}× {_short(ref)}" if value is not None else f"— {_short(ref)}"
            for ref, value in entry["ratios"].items()
        )
        rows.append((entry["label"], median, spread, unit if unit != "share" else "", target, ratios))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("─" * w for w in widths))
    return "\n".join(lines)


def write_result(result: Mapping[str, Any], when: datetime, folder: Path = RESULTS_DIR) -> Path:
    """Write ``<folder>/<timestamp>.json``; the name sorts by time."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{when.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    return path
