"""The run's verdict: a table for the terminal and the same facts as JSON. Pure: values in, text out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.tally import StageCount


@dataclass(frozen=True)
class FaultResult:
    """One scenario: how long the fault lasted and how long the pipeline took to deliver again after it."""

    scenario: str
    fault_s: float
    recovered_s: float | None  # None: a canary posted after the fault never reached Slack in time
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.recovered_s is not None


@dataclass(frozen=True)
class PoisonResult:
    """One poison record written into a topic, and the dead letter it became (if any)."""

    topic: str
    kind: str
    marker: str
    dead_lettered: bool
    consumer: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ChaosReport:
    run: str
    layout: str
    duration_s: float
    stages: list[StageCount]
    faults: list[FaultResult]
    poison: list[PoisonResult]
    load: dict[str, Any] = field(default_factory=dict)
    # Copies of an email the SMTP server already had (same Message-ID, sent again after a crash between the
    # server's accept and the notifier's mark): shown once by mail clients, so not "doubled", but reported.
    email_retransmissions: int = 0

    @property
    def ok(self) -> bool:
        return (
            all(s.ok for s in self.stages)
            and all(f.ok for f in self.faults)
            and all(p.dead_lettered for p in self.poison)
        )

    def to_json(self) -> dict[str, Any]:
        """Everything, plus each part's own verdict, for CI to archive and compare."""
        return {
            "ok": self.ok,
            "run": self.run,
            "layout": self.layout,
            "duration_s": round(self.duration_s, 1),
            "load": self.load,
            "email_retransmissions": self.email_retransmissions,
            "stages": [{**asdict(s), "ok": s.ok} for s in self.stages],
            "faults": [{**asdict(f), "ok": f.ok} for f in self.faults],
            "poison": {
                "written": len(self.poison),
                "dead_lettered": sum(p.dead_lettered for p in self.poison),
                "records": [asdict(p) for p in self.poison],
            },
        }


def format_text(report: ChaosReport) -> str:
    """The table printed at the end of `leadflow chaos`."""
    lines = [f"Chaos run {report.run} on the '{report.layout}' stack, {report.duration_s:.0f}s", ""]
    load = report.load
    lines.append(
        f"Load: {load.get('sent', 0)} leads sent, {load.get('accepted', 0)} accepted (202), "
        f"{load.get('refused', 0)} refused; ingest answered {load.get('statuses', {})}"
    )
    lines += ["", f"  {'stage':<10}{'expected':>10}{'observed':>10}{'lost':>7}{'doubled':>9}{'unwanted':>10}"]
    for s in report.stages:
        mark = "✔" if s.ok else "✘"
        lines.append(
            f"{mark} {s.stage:<10}{s.expected:>10}{s.observed:>10}{s.lost:>7}{s.duplicated:>9}{s.unexpected:>10}"
        )
        if s.lost_samples:
            lines.append(f"      lost, e.g. {', '.join(s.lost_samples)}")
        if s.duplicated_samples:
            lines.append(f"      doubled or unwanted, e.g. {', '.join(s.duplicated_samples)}")
    if report.email_retransmissions:
        lines.append(
            f"  email: {report.email_retransmissions} SMTP re-transmission(s) of a delivered message under the same "
            "Message-ID (a notifier killed between the server's accept and its mark; mail clients show one)"
        )
    lines += ["", f"  {'fault':<18}{'lasted':>8}{'recovered in':>14}"]
    for f in report.faults:
        recovered = f"{f.recovered_s:.1f}s" if f.recovered_s is not None else "never"
        lines.append(f"{'✔' if f.ok else '✘'} {f.scenario:<18}{f.fault_s:>7.1f}s{recovered:>14}  {f.note}".rstrip())
    if report.poison:
        dead = sum(p.dead_lettered for p in report.poison)
        lines += ["", f"Poison: {dead}/{len(report.poison)} records in the dead-letter topic"]
        for p in report.poison:
            error = " ".join((p.error or "").split())  # one line per record, however long the error
            where = f"{p.consumer}: {error[:90]}" if p.dead_lettered else "NOT dead-lettered"
            lines.append(f"{'✔' if p.dead_lettered else '✘'} {p.topic:<31}{p.kind:<19}{where}")
    lines += ["", "PASS: nothing lost, nothing doubled" if report.ok else "FAIL: some counts are off (see ✘ above)"]
    return "\n".join(lines)
