"""`leadflow bench`: throughput and latency on this machine, next to the raw Kafka limit (never part of make test)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _bench(args: argparse.Namespace) -> int:
    from bench.plan import FULL, PHASES, QUICK
    from bench.runner import execute

    plan = (QUICK if args.quick else FULL).with_overrides(
        drain_events=args.events,
        drain_leads=args.leads,
        repeats=args.repeats,
        slot=args.slot,
        generators=args.generators,
        alert_rate=args.alert_rate,
        alert_seconds=args.alert_seconds,
        team_reps=args.team,
        ingest_step_seconds=args.step_seconds,
        ingest_rates=tuple(args.rates) if args.rates else None,
        fresh=False if args.reuse else None,
        keep_stack=True if args.keep_stack else None,
        phases=tuple(p for p in PHASES if p in args.phases) if args.phases else None,
        drain_until=args.drain_until,
        ingest_instances=args.ingest_instances,
    )
    execute(plan, argv=sys.argv[1:])
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def register(sub: Any) -> None:
    """Add `leadflow bench` to the ``leadflow`` parser."""
    from bench.plan import MAX_INSTANCES, PHASES

    bench = sub.add_parser(
        "bench",
        help="measure ingest, drain rates, lead-to-alert latency, RSS and CPU against the raw Kafka limit",
        description="Runs on its own stack (test slot 8 unless --slot) and writes bench/results/<timestamp>.json.",
    )
    bench.add_argument("--quick", action="store_true", help="about a minute of measuring: before/after a change")
    bench.add_argument("--events", type=_positive_int, help="events pre-filled for the drains (full: 1,000,000)")
    bench.add_argument("--leads", type=_positive_int, help="leads those events are spread over (full: 100,000)")
    bench.add_argument("--repeats", type=_positive_int, help="runs of each figure; the median is reported (full: 3)")
    bench.add_argument("--slot", type=int, choices=range(10), metavar="0-9", help="stack slot (default 8)")
    bench.add_argument("--generators", type=_positive_int, help="load generator processes (default 2)")
    bench.add_argument("--rates", type=_positive_int, nargs="+", help="offered ingest rates to step through")
    bench.add_argument("--step-seconds", type=_positive_float, help="seconds per offered ingest rate")
    bench.add_argument("--alert-rate", type=_positive_int, help="events/s for lead-to-alert latency (full: 1000)")
    bench.add_argument("--alert-seconds", type=_positive_float, help="seconds of lead-to-alert load (full: 60)")
    bench.add_argument(
        "--ingest-instances", type=int, choices=range(1, MAX_INSTANCES + 1), metavar=f"1-{MAX_INSTANCES}",
        help="ingest instances the load is spread over, as behind a load balancer (default 1)",
    )  # fmt: skip
    bench.add_argument("--team", type=_positive_int, help="reps in the team routed to (default 240; bench/team.py)")
    bench.add_argument(
        "--phases", nargs="+", choices=PHASES,
        help="run only these phases (default: all), e.g. --phases alert when tuning lead-to-alert latency; "
        "floor: the bare Python floor of ingest and of a consumer on this machine (bench/floor.py)",
    )  # fmt: skip
    bench.add_argument(
        "--drain-until", choices=("scoring", "router", "notifier"),
        help="time the drains up to this consumer only (default: all three), e.g. scoring at full scale",
    )  # fmt: skip
    bench.add_argument("--reuse", action="store_true", help="keep the slot's data instead of starting empty")
    bench.add_argument("--keep-stack", action="store_true", help="leave the bench stack running afterwards")
    bench.set_defaults(func=_bench)
