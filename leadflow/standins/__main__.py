"""Run the Slack and SMTP stand-ins in one process: ``python -m leadflow.standins --http-port 8090``."""

from __future__ import annotations

import argparse
import os

import uvicorn

from leadflow.standins import create_standins_app
from leadflow.standins.smtp import MailSink, start_smtp_sink


def main(argv: list[str] | None = None) -> None:
    """Start the SMTP sink on its own thread, then serve the HTTP side until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m leadflow.standins", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface for both servers (0.0.0.0 in a container)")
    parser.add_argument("--http-port", type=int, default=8090)
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument(
        "--token",
        default=os.environ.get("SLACK_BOT_TOKEN", "xoxb-local"),
        help="the bot token the Slack stand-in accepts (default: $SLACK_BOT_TOKEN or xoxb-local)",
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log every HTTP request (off: under a benchmark's load the log lines were ~8 %% of the stand-ins' CPU)",
    )
    args = parser.parse_args(argv)

    sink = MailSink()
    controller = start_smtp_sink(args.host, args.smtp_port, sink)
    try:
        app = create_standins_app(args.token, sink)
        uvicorn.run(app, host=args.host, port=args.http_port, log_level="info", access_log=args.access_log)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
