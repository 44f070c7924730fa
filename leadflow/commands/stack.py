"""`leadflow up | down | status | reset | demo`: the local stack and the demo."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any


def _up(_: argparse.Namespace) -> int:
    from leadflow import stack

    stack.up()
    return 0


def _down(_: argparse.Namespace) -> int:
    from leadflow import stack

    stack.down()
    return 0


def _status(_: argparse.Namespace) -> int:
    from leadflow import stack

    return stack.status()


def _reset(_: argparse.Namespace) -> int:
    from leadflow import stack

    stack.reset()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from leadflow import stack
    from leadflow.demo import run_demo
    from shared.settings import DEV_SECRET

    lay = stack.layout_from_env()
    if not args.no_up:
        stack.up(lay)
    keys = [k for k in os.environ.get("INGEST_API_KEYS", "").split(",") if k]
    return asyncio.run(
        run_demo(
            os.environ.get("LEADFLOW_INGEST_URL", lay.service("ingest").url),
            os.environ.get("LEADFLOW_ROUTER_URL", lay.service("router").url),
            api_key=keys[0] if keys else None,
            webhook_secret=os.environ.get("WEBHOOK_SECRET") or dict(lay.env).get("WEBHOOK_SECRET", DEV_SECRET),
            timeout_s=args.timeout,
        )
    )


def register(sub: Any) -> None:
    """Add this module's commands to the ``leadflow`` parser."""
    sub.add_parser("up", help="start Kafka, PostgreSQL, the stand-ins and the four services").set_defaults(func=_up)
    sub.add_parser("down", help="stop everything `up` started").set_defaults(func=_down)
    sub.add_parser("status", help="show what answers").set_defaults(func=_status)
    sub.add_parser("reset", help="stop everything and delete local data").set_defaults(func=_reset)
    demo = sub.add_parser("demo", help="run the pipeline on a bundled sample of ~200 leads")
    demo.add_argument("--no-up", action="store_true", help="use an already running stack")
    demo.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for routing")
    demo.set_defaults(func=_demo)
