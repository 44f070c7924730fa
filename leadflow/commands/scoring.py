"""`leadflow scoring calibrate | rescore`: tune the scoring model from sales outcomes, and apply a change."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _calibrate(args: argparse.Namespace) -> int:
    from services.scoring.calibration import NotEnoughData, calibrate, render, rule_catalog
    from services.scoring.model import load_scoring_model
    from services.scoring.settings import ScoringSettings
    from shared.config_file import ConfigError

    settings = ScoringSettings()
    try:
        model = load_scoring_model(args.model or settings.model_path)
    except ConfigError as exc:
        print(f"✘ {exc}", file=sys.stderr)
        return 2
    samples = asyncio.run(_samples(args.database_url or settings.database_url, model, args.chunk))
    try:
        report = calibrate(
            samples,
            rule_catalog(model),
            holdout=args.holdout,
            l2=args.l2,
            min_support=args.min_support,
            mql=model.thresholds.mql,
        )
    except NotEnoughData as exc:
        print(f"✘ {exc}", file=sys.stderr)
        return 1
    if args.json:
        payload: dict[str, Any] = dataclasses.asdict(report)
        payload["model_version"] = model.version
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(f"Scoring model {model.version}")
        print(render(report))
    return 0


async def _samples(database_url: str, model: Any, chunk: int) -> list[Any]:
    """Every lead with a sales outcome, as a calibration sample; events read a chunk of leads at a time."""
    from services.scoring import repository
    from services.scoring.calibration import sample_of
    from shared.db import create_engine, session_factory

    engine = create_engine(database_url, pool_size=1)
    try:
        async with session_factory(engine)() as session:
            lead_ids = await repository.leads_with_outcomes(session)
            samples = []
            for start in range(0, len(lead_ids), chunk):
                history = await repository.events_of(session, lead_ids[start : start + chunk])
                samples += [s for events in history.values() if (s := sample_of(events, model)) is not None]
        return samples
    finally:
        await engine.dispose()


def _rescore(args: argparse.Namespace) -> int:
    import httpx

    from leadflow import stack
    from shared.settings import DEV_SECRET

    url = (args.url or stack.layout_from_env().service("scoring").url).rstrip("/")
    token = os.environ.get("SCORING_ADMIN_TOKEN", DEV_SECRET)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        response = client.post("/v1/admin/model/reload")
        if response.status_code == 422:
            print("✘ scoring.yaml was refused; the service keeps its current model:", file=sys.stderr)
            for problem in response.json().get("problems", []):
                print(f"  {problem}", file=sys.stderr)
            return 2
        response.raise_for_status()
        started = response.json()
        changed = "changed" if started["model_changed"] else "unchanged"
        print(
            f"model {started['previous_model_version']} → {started['model_version']} ({changed}); "
            f"rescoring as {started['job_id']}"
        )
        if args.no_wait:
            return 0
        deadline = time.monotonic() + args.timeout
        while True:
            job = client.get(started["status_url"]).raise_for_status().json()
            if job["state"] != "running" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    print(
        f"{job['state']}: {job['scanned']} leads rescored; {job['changed_rank_or_stage']} changed rank or stage "
        f"(rank {job['changed_rank']}, stage {job['changed_stage']}, temperature {job['changed_temperature']}); "
        f"{job['published']} published"
    )
    return 0 if job["state"] == "done" else 1


def _bench(args: argparse.Namespace) -> int:
    from services.scoring.bench import run_bench
    from services.scoring.model import load_scoring_model
    from services.scoring.settings import ScoringSettings

    settings = ScoringSettings()
    result = asyncio.run(
        run_bench(
            bootstrap=args.bootstrap or settings.kafka_bootstrap_servers,
            database_url=args.database_url or settings.database_url,
            model=load_scoring_model(settings.model_path),
            events=args.events,
            leads=args.leads,
            batch=args.batch or settings.max_batch,
            partitions=args.partitions,
            concurrency=args.concurrency or settings.partition_concurrency,
        )
    )
    print(
        f"filled {result.events:,} events over {result.leads:,} leads in {result.fill_s:.1f}s; "
        f"scored them in {result.drain_s:.1f}s: {result.events_per_s:,.0f} events/s, "
        f"{1000 * result.drain_cpu_s / max(result.events, 1):.2f} s of this process's CPU per 1,000 events"
    )
    return 0


def register(sub: Any) -> None:
    """Add `leadflow scoring calibrate` and `leadflow scoring rescore`."""
    scoring = sub.add_parser("scoring", help="tune the scoring model from sales outcomes; rescore after a change")
    commands = scoring.add_subparsers(dest="scoring_command", required=True)

    cal = commands.add_parser(
        "calibrate",
        help="suggest points per rule from won/lost and accepted/rejected leads (suggestions only)",
        description="Fits a logistic regression (L2) of sales outcomes on each rule's activation and prints, per "
        "rule, current vs. suggested points, conversion by channel and by rank, and the AUC of the current and "
        "the suggested model on held-out leads. Read-only: a person edits scoring.yaml.",
    )
    cal.add_argument("--model", type=Path, help="scoring.yaml to compare against (default: the configured one)")
    cal.add_argument("--database-url", help="scoring's database (default: DATABASE_URL or the local stack)")
    cal.add_argument("--holdout", type=_fraction, default=0.25, help="share of leads held out for the AUC")
    cal.add_argument("--l2", type=float, default=1.0, help="L2 penalty on the rule weights")
    cal.add_argument("--min-support", type=int, default=20, help="suggest only for rules that fired on this many")
    cal.add_argument("--chunk", type=int, default=1000, help="leads read per query")
    cal.add_argument("--json", action="store_true", help="print the report as JSON")
    cal.set_defaults(func=_calibrate)

    rescore = commands.add_parser(
        "rescore",
        help="reload scoring.yaml in the running service and rescore every lead (token: SCORING_ADMIN_TOKEN)",
    )
    rescore.add_argument("--url", help="the scoring service (default: the local stack's)")
    rescore.add_argument("--no-wait", action="store_true", help="return once the job started")
    rescore.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the job")
    rescore.set_defaults(func=_rescore)

    bench = commands.add_parser(
        "bench",
        help="scoring throughput in events/s on a pre-filled topic (writes synthetic leads: use a scratch stack)",
    )
    bench.add_argument("--events", type=int, default=1_000_000)
    bench.add_argument("--leads", type=int, default=100_000)
    bench.add_argument("--batch", type=int, help="records per getmany (default: the service's MAX_BATCH)")
    bench.add_argument("--partitions", type=int, default=6)
    bench.add_argument(
        "--concurrency",
        type=int,
        help="partition batches applied at once (default: the service's PARTITION_CONCURRENCY)",
    )
    bench.add_argument("--bootstrap", help="Kafka (default: KAFKA_BOOTSTRAP_SERVERS or the local stack)")
    bench.add_argument("--database-url", help="scoring's database (default: DATABASE_URL or the local stack)")
    bench.set_defaults(func=_bench)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value
