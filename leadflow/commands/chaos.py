"""`leadflow chaos [--short] [--scenario NAME ...]`: faults under load, with counted results."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

# The test stack slot `make chaos` runs on unless --slot says otherwise (`make bench` uses 8, `make test` 0).
CHAOS_SLOT = 9


def _chaos(args: argparse.Namespace) -> int:
    from chaos.runner import UnknownScenario, print_report, run_chaos, write_report
    from chaos.settings import ChaosSettings
    from leadflow import stack

    settings = ChaosSettings.short() if args.short else ChaosSettings()
    if args.scenario:
        settings = settings.model_copy(update={"scenarios": tuple(args.scenario)})
    if args.output:
        settings = settings.model_copy(update={"output": Path(args.output)})
    # Its own slot unless told: the stack is left with a run's worth of leads (reps at capacity, SLA clocks
    # running), which `make test` on slot 0 must not inherit.
    lay = stack.layout_for_tests(args.slot if args.slot is not None else CHAOS_SLOT)
    if not args.reuse_data:
        # Start from nothing: leads left by an earlier run keep their SLA clocks, breach mid-run, and their
        # escalations queue ahead of this run's alerts (Slack pacing), which would muddle every count.
        stack.reset(lay)
    stack.up(lay)
    try:
        report = asyncio.run(run_chaos(lay, settings))
    except UnknownScenario as exc:
        print(f"✘ {exc}", file=sys.stderr)
        return 2
    finally:
        if not args.keep_stack:
            stack.down(lay)
    print_report(report)
    write_report(report, settings.output)
    print(f"Report: {settings.output}")
    return 0 if report.ok else 1


def register(sub: Any) -> None:
    """Add `leadflow chaos` to the ``leadflow`` parser."""
    from chaos.settings import ALL_SCENARIOS, SHORT_SCENARIOS

    chaos = sub.add_parser(
        "chaos",
        help="faults under load (kill -9, broker and database restarts, Slack/SMTP outages, poison) with counts",
        description=f"Runs on a test stack of its own (slot {CHAOS_SLOT}, or --slot N), starting empty; brings it up, "
        "injects each fault while leads keep arriving, then counts accepted, scored, routed, Slack and email "
        "(lost and doubled) and poison in the dead-letter topic. Exits 1 when any count is off. CHAOS_<SETTING> "
        "environment variables override every number in chaos/settings.py.",
    )
    chaos.add_argument("--short", action="store_true", help=f"the quick variant: {', '.join(SHORT_SCENARIOS)}")
    chaos.add_argument(
        "--scenario", action="append", choices=ALL_SCENARIOS, metavar="NAME",
        help=f"run only these, in this order (repeatable): {', '.join(ALL_SCENARIOS)}",
    )  # fmt: skip
    chaos.add_argument("--slot", type=int, default=None, help=f"test stack slot 0-9 (default: {CHAOS_SLOT})")
    chaos.add_argument("--keep-stack", action="store_true", help="leave the stack running afterwards")
    chaos.add_argument(
        "--reuse-data", action="store_true", help="keep the slot's earlier data (default: start from an empty stack)"
    )
    chaos.add_argument("--output", help="where to write the JSON report (default: .cache/chaos/report.json)")
    chaos.set_defaults(func=_chaos)
