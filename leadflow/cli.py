"""The ``leadflow`` command: the home of every operator task.

Each area registers its own subcommands from a module in ``leadflow/commands/`` (stack and demo, CSV
import, rescoring and calibration, routing simulation, …), so adding one never touches another.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import leadflow.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadflow", description="LeadFlow: explainable lead routing, operator tasks")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in sorted(pkgutil.iter_modules(leadflow.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"leadflow.commands.{module.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``leadflow`` console script."""
    from leadflow.stack import StackError

    args = build_parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except StackError as exc:
        print(f"✘ {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
