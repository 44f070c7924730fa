"""`leadflow migrate [SERVICE ...]`: bring each service's schema to its latest Alembic revision.

Services also migrate on start (under an advisory lock); this is for deployments that turn that off
(`MIGRATE_ON_START=false`) and run migrations as a separate step, like the Kubernetes migration Job.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
from pathlib import Path
from typing import Any

from leadflow.stack import ROOT, SERVICE_NAMES, database_url, layout_from_env


async def _migrate(services: list[str], url: str) -> None:
    from shared.db import create_engine, migrate

    engine = create_engine(url, pool_size=1)
    try:
        for name in services:
            schema = importlib.import_module(f"services.{name}.models").SCHEMA
            await migrate(engine, Path(ROOT / "services" / name / "migrations"), schema)
            print(f"▸ {name}: schema '{schema}' at head", flush=True)
    finally:
        await engine.dispose()


def _run(args: argparse.Namespace) -> int:
    unknown = sorted(set(args.services) - set(SERVICE_NAMES))
    if unknown:
        print(f"✘ unknown service(s): {', '.join(unknown)}; choose from {', '.join(SERVICE_NAMES)}")
        return 2
    url = os.environ.get("DATABASE_URL") or database_url(layout_from_env())
    asyncio.run(_migrate(args.services or list(SERVICE_NAMES), url))
    return 0


def register(sub: Any) -> None:
    """Add `leadflow migrate` to the parser."""
    parser = sub.add_parser("migrate", help="upgrade each service's database schema to its latest migration")
    parser.add_argument("services", nargs="*", help=f"any of {', '.join(SERVICE_NAMES)} (default: all four)")
    parser.set_defaults(func=_run)
