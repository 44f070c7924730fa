"""Peak memory and CPU time of the stack's processes, from /proc (Linux).

Peak RSS is the kernel's own high-water mark (VmHWM), so a spike between two samples is not missed. CPU is
user + system time from /proc/<pid>/stat; a phase's cost is the difference of two snapshots. PostgreSQL is
one postmaster plus a backend per connection, so its CPU is summed over the postmaster's children.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bench.plan import MAX_INSTANCES
from leadflow import stack

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TRACKED = ("ingest", "scoring", "router", "notifier", "kafka", "standins")


def parse_vm_hwm_kb(status_text: str) -> int | None:
    """VmHWM (peak resident set) in kB from a /proc/<pid>/status text."""
    for line in status_text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def parse_stat(stat_text: str, clock_ticks: int = CLOCK_TICKS) -> tuple[int, float]:
    """(parent pid, user + system CPU seconds) from a /proc/<pid>/stat line."""
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    fields = stat_text[stat_text.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime = int(fields[11]), int(fields[12])
    return ppid, (utime + stime) / clock_ticks


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def pid_of(lay: stack.Layout, name: str) -> int | None:
    """The pid of a process the stack started, if it still runs."""
    text = _read(lay.run / f"{name}.pid")
    if text is None or not text.strip().isdigit():
        return None
    pid = int(text.strip())
    return pid if (PROC / str(pid)).exists() else None


def postmaster_pid(lay: stack.Layout) -> int | None:
    """The PostgreSQL postmaster's pid, from its data folder's postmaster.pid."""
    home = _read(lay.run / "postgres.home")
    if home is None:
        return None
    text = _read(Path(home.strip()) / "data" / "postmaster.pid")
    if not text:
        return None
    first = text.splitlines()[0].strip()
    return int(first) if first.isdigit() else None


def cpu_seconds(pid: int) -> float | None:
    text = _read(PROC / str(pid) / "stat")
    return parse_stat(text)[1] if text else None


def peak_rss_mb(pid: int) -> float | None:
    text = _read(PROC / str(pid) / "status")
    kb = parse_vm_hwm_kb(text) if text else None
    return kb / 1024 if kb is not None else None


def _postgres_cpu(postmaster: int) -> float:
    total = cpu_seconds(postmaster) or 0.0
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        text = _read(entry / "stat")
        if text is None:
            continue
        ppid, cpu = parse_stat(text)
        if ppid == postmaster:
            total += cpu
    return total


@dataclass
class ProcessWatch:
    """CPU snapshots and the running maximum of each process's peak RSS."""

    lay: stack.Layout
    peak_mb: dict[str, float] = field(default_factory=dict)

    def snapshot(self) -> dict[str, float]:
        """CPU seconds so far per service (its instances and PostgreSQL's backends summed), and fold in each
        process's peak RSS (instance N of a service as ``name-N``)."""
        out: dict[str, float] = {}
        for name in TRACKED:
            for process in (name, *(f"{name}-{n}" for n in range(2, MAX_INSTANCES + 1))):
                pid = pid_of(self.lay, process)
                if pid is None:
                    continue
                cpu = cpu_seconds(pid)
                if cpu is not None:
                    out[name] = out.get(name, 0.0) + cpu
                peak = peak_rss_mb(pid)
                if peak is not None:
                    self.peak_mb[process] = max(self.peak_mb.get(process, 0.0), peak)
        postmaster = postmaster_pid(self.lay)
        if postmaster is not None:
            out["postgres"] = _postgres_cpu(postmaster)
        return out


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds spent between two snapshots; a process restarted in between counts from zero."""
    out = {}
    for name, value in after.items():
        start = before.get(name, 0.0)
        out[name] = value - start if value >= start else value
    return out
