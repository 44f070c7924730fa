"""The sales team the bench routes to: sized for the load, so Slack's pacing of one channel is not what is measured.

Slack lets an app post about one message a second to a channel (short bursts allowed), and the notifier paces
each rep's channel accordingly. At 1,000 events/s the realistic mix holds ~115 rank-A actions a second, each
owed an alert: with the test stack's five reps that is ~23 alerts a second per channel, and the figure would
measure Slack's queue, not LeadFlow. A team that takes this volume has hundreds of reps; the bench routes to
one of ``reps`` people (a quarter enterprise, the rest inside sales), all on call, with room in their capacity,
and writes which team it used next to its results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ENTERPRISE_SHARE = 4  # one rep in four is an enterprise rep


def team_routing(base: dict[str, Any], reps: int, capacity: int = 100_000) -> dict[str, Any]:
    """``base`` (the test routing) with its teams' members replaced by ``reps`` generated reps."""
    if reps < 2:
        raise ValueError("the bench team needs at least 2 reps (one per team)")
    enterprise = max(1, reps // ENTERPRISE_SHARE)
    people: list[dict[str, Any]] = []
    for n in range(1, reps + 1):
        team = "enterprise" if n <= enterprise else "inside"
        people.append(
            {
                "id": f"bench-rep-{n:04d}",
                "name": f"Bench Rep {n:04d}",
                "email": f"bench-rep-{n:04d}@example.com",
                "slack_id": f"U0BENCH{n:04d}",
                "team": team,
                "timezone": "UTC",
                "locale": "en",
                "capacity": capacity,
            }
        )
    routing = dict(base)
    routing["teams"] = [
        {**t, "members": [p["id"] for p in people if p["team"] == t["id"]]}
        for t in base["teams"]
        if t["id"] in {"enterprise", "inside"}
    ]
    routing["reps"] = people
    return routing


def write_team_config(source_dir: Path, target_dir: Path, reps: int) -> Path:
    """A config folder like ``source_dir`` whose routing.yaml routes to ``reps`` reps; returns ``target_dir``."""
    target_dir.mkdir(parents=True, exist_ok=True)
    for path in source_dir.iterdir():
        if path.is_file() and path.name != "routing.yaml":
            (target_dir / path.name).write_bytes(path.read_bytes())
    base = yaml.safe_load((source_dir / "routing.yaml").read_text(encoding="utf-8"))
    routing = team_routing(base, reps)
    (target_dir / "routing.yaml").write_text(yaml.safe_dump(routing, allow_unicode=True, sort_keys=False))
    return target_dir
