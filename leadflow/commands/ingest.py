"""`leadflow import tradeshow FILE --show NAME`: upload a show's badge list to ingest, with a progress bar."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx

CHUNK = 64 * 1024


def upload_tradeshow(
    url: str,
    path: Path,
    show: str,
    api_key: str | None,
    out: TextIO,
    transport: httpx.BaseTransport | None = None,
    timeout_s: float = 300.0,
) -> tuple[int, dict[str, Any]]:
    """Stream the CSV to ``POST /v1/imports/tradeshow``; returns the HTTP status and the JSON answer."""
    from leadflow.demo import Progress

    size = path.stat().st_size
    progress = Progress(out, size, "bytes sent")

    def chunks() -> Iterator[bytes]:
        sent = 0
        with path.open("rb") as file:
            while chunk := file.read(CHUNK):
                sent += len(chunk)
                progress.update(sent)
                yield chunk
        progress.finish(sent)
        out.write("\n")

    headers = {"content-type": "text/csv", "content-length": str(size)}
    if api_key:
        headers["X-API-Key"] = api_key
    with httpx.Client(timeout=timeout_s, transport=transport) as client:
        response = client.post(
            f"{url.rstrip('/')}/v1/imports/tradeshow", params={"show": show}, content=chunks(), headers=headers
        )
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:500]}
    return response.status_code, body


def report(status: int, body: dict[str, Any], out: TextIO) -> int:
    """Print the import's outcome; 0 when every row was accepted, 1 when some were rejected, 2 on failure."""
    if status != 200:
        out.write(f"✘ ingest answered {status}: {body.get('error')} {body.get('detail') or body.get('errors') or ''}\n")
        return 2
    out.write(
        f"✔ {body['show']}: {body['rows']} rows, {body['accepted']} accepted, {body['duplicates']} already "
        f"imported, {body['rejected']} rejected\n"
    )
    for error in body.get("errors", []):
        reasons = "; ".join(f"{e['path']}: {e['reason']}" for e in error["errors"])
        out.write(f"  line {error['row']}: {reasons}\n")
    if body.get("errors_truncated"):
        out.write("  … more rejected rows not listed\n")
    return 1 if body["rejected"] else 0


def _import_tradeshow(args: argparse.Namespace) -> int:
    from leadflow import stack

    path = Path(args.file)
    if not path.is_file():
        print(f"✘ no such file: {path}", file=sys.stderr)
        return 2
    url = args.url or os.environ.get("LEADFLOW_INGEST_URL") or stack.layout_from_env().service("ingest").url
    keys = [k for k in os.environ.get("INGEST_API_KEYS", "").split(",") if k]
    api_key = args.api_key or os.environ.get("LEADFLOW_API_KEY") or (keys[0] if keys else None)
    try:
        status, body = upload_tradeshow(url, path, args.show, api_key, sys.stdout)
    except httpx.HTTPError as exc:
        print(f"✘ could not reach ingest at {url}: {type(exc).__name__} {exc}", file=sys.stderr)
        return 2
    return report(status, body, sys.stdout)


def register(sub: Any) -> None:
    """Add `leadflow import …` to the ``leadflow`` parser."""
    importer = sub.add_parser("import", help="import lists into LeadFlow")
    kinds = importer.add_subparsers(dest="kind", required=True)
    tradeshow = kinds.add_parser("tradeshow", help="upload a trade show's badge list (CSV)")
    tradeshow.add_argument("file", help="the CSV file (UTF-8 or Shift_JIS; English or Japanese headers)")
    tradeshow.add_argument("--show", required=True, help="the show's name, e.g. 'Japan IT Week 2026'")
    tradeshow.add_argument("--url", help="ingest's base URL (default: LEADFLOW_INGEST_URL or the local stack)")
    tradeshow.add_argument("--api-key", help="X-API-Key (default: LEADFLOW_API_KEY or the first INGEST_API_KEYS)")
    tradeshow.set_defaults(func=_import_tradeshow)
