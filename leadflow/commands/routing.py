"""`leadflow routing simulate --rules new.yaml --since 30d`: what-if on a candidate routing.yaml.

Replays the inputs stored with each past decision (the scored lead) against the candidate rules and prints,
per team and per rep, how assignments would change. It reads the router's decisions inside a READ ONLY
transaction and keeps its rotation and loads in memory, so live state cannot change.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


async def load_stored_decisions(database_url: str, since: datetime) -> list[Any]:
    """The router's first-time decisions since ``since``, with their inputs, read in a read-only transaction."""
    from sqlalchemy import text

    from services.router import repository
    from services.router.domain import StoredDecision
    from shared.db import create_engine, session_factory
    from shared.events import LeadScored

    engine = create_engine(database_url, pool_size=1)
    try:
        async with session_factory(engine)() as session:
            await session.execute(text("SET TRANSACTION READ ONLY"))
            rows = await repository.replayable_decisions(session, since)
            await session.rollback()
    finally:
        await engine.dispose()
    return [
        StoredDecision(
            decision_id=row.decision_id,
            lead=LeadScored.model_validate(row.lead),
            decided_at=row.decided_at,
            rep_id=row.rep_id,
            team_id=row.team_id if row.rep_id else (row.queue_id or row.team_id),
            rule_id=row.rule_id,
        )
        for row in rows
    ]


def simulate(rules: Path, since: timedelta, database_url: str, now: datetime | None = None) -> Any:
    """Load the candidate rules, replay the stored decisions since ``now - since``, return the report."""
    from services.router.config import load_routing_config
    from services.router.domain import replay

    candidate = load_routing_config(rules)
    stored = asyncio.run(load_stored_decisions(database_url, (now or datetime.now(UTC)) - since))
    return replay(stored, candidate)


def _database_url() -> str:
    from leadflow import stack

    return os.environ.get("DATABASE_URL") or stack.database_url(stack.layout_from_env())


def _simulate(args: argparse.Namespace) -> int:
    from services.router.config import parse_duration
    from services.router.domain import UNASSIGNED_LABEL, render_report
    from shared.config_file import ConfigError

    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        print(f"✘ --since: {exc}", file=sys.stderr)
        return 2
    try:
        report = simulate(Path(args.rules), since, args.database_url or _database_url())
    except ConfigError as exc:
        print(f"✘ {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"✘ cannot reach the router's database: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "leads": report.leads,
                    "changed": report.changed,
                    "unassigned_label": UNASSIGNED_LABEL,
                    "teams": _table(report.teams_before, report.teams_after),
                    "reps": _table(report.reps_before, report.reps_after),
                    "moves": [{"from": a, "to": b, "count": n} for (a, b), n in report.moves.most_common()],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        print(render_report(report))
    return 0


def _table(before: Any, after: Any) -> dict[str, dict[str, int]]:
    return {
        name: {"before": before[name], "after": after[name], "change": after[name] - before[name]}
        for name in sorted(set(before) | set(after))
    }


def register(sub: Any) -> None:
    """Add `leadflow routing …` to the ``leadflow`` parser."""
    routing = sub.add_parser("routing", help="routing operator tasks (what-if simulation)")
    tasks = routing.add_subparsers(dest="routing_command", required=True)
    simulate_cmd = tasks.add_parser(
        "simulate",
        help="replay stored decisions against a candidate routing.yaml and show how assignments would change",
    )
    simulate_cmd.add_argument("--rules", required=True, help="the candidate routing.yaml")
    simulate_cmd.add_argument("--since", default="30d", help="how far back to replay, e.g. 7d, 30d (default 30d)")
    simulate_cmd.add_argument("--database-url", default=None, help="the router's database (default: DATABASE_URL)")
    simulate_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    simulate_cmd.set_defaults(func=_simulate)
