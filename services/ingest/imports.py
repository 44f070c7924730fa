"""CSV import of a trade show's badge list: streamed, good rows accepted, bad rows reported with their line."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from services.ingest import metrics
from services.ingest.csv_import import CsvImportError, decode_lines, parse_rows
from services.ingest.deps import (
    Principal,
    api_key_principal,
    header_docs,
    respond,
    settings_of,
    state_of,
)
from services.ingest.domain import to_lead_event
from services.ingest.schemas import ImportResponse, RowError
from shared.events import Channel, LeadEvent

router = APIRouter(prefix="/v1/imports", tags=["imports"])
_CHUNK = 64 * 1024
_MAX_REPORTED_ERRORS = 1000  # a file of 50,000 bad rows needs the first errors, not a 50 MB answer
_CSV_BODY = {
    "required": True,
    "content": {
        "text/csv": {
            "schema": {"type": "string", "format": "binary"},
            "example": "氏名,会社名,役職,メールアドレス,電話番号,評価\n"
            "田中 太郎,株式会社サンプル,営業部長,tanaka@example.co.jp,03-1234-5678,A\n",
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, {"error": "payload_too_large", "limit_bytes": limit})


async def _spool(request: Request, limit: int) -> tuple[IO[bytes], str]:
    """The upload in a spooled temporary file (memory, then disk) and its digest; refused once over the limit."""
    digest = hashlib.sha256()
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 - closed by the caller
    size = 0
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            spool.close()
            raise HTTPException(
                422,
                {"error": "validation_failed", "errors": [{"path": "body/file", "reason": "attach the CSV as 'file'"}]},
            )
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                spool.close()
                raise _too_large(limit)
            spool.write(chunk)
            digest.update(chunk)
    else:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                spool.close()
                raise _too_large(limit)
            spool.write(chunk)
            digest.update(chunk)
    spool.seek(0)
    return spool, digest.hexdigest()


def _chunks(file: IO[bytes]) -> Iterator[bytes]:
    while chunk := file.read(_CHUNK):
        yield chunk


@router.post(
    "/tradeshow",
    status_code=200,
    response_model=ImportResponse,
    openapi_extra={"requestBody": _CSV_BODY, **header_docs("X-API-Key", "Idempotency-Key")},
    responses={
        401: {"description": "Missing or wrong API key"},
        413: {"description": "File over MAX_CSV_BYTES"},
        415: {"description": "Not text/csv or multipart/form-data"},
        422: {"description": "No header row or no email column, or too many rows"},
        503: {"description": "Kafka or the database is unavailable: rows accepted so far are reported"},
    },
)
async def import_tradeshow(
    request: Request,
    principal: Annotated[Principal, Depends(api_key_principal)],
    show: Annotated[str, Query(min_length=1, max_length=500, description="The show the badge list is from")],
) -> JSONResponse:
    """Upload a show's badge list (CSV, UTF-8 or Shift_JIS; English or Japanese headers)."""
    settings = settings_of(request)
    spool, digest = await _spool(request, settings.max_csv_bytes)

    async def produce() -> ImportResponse:
        intake = state_of(request).intake
        now = datetime.now(UTC)
        result: dict[str, Any] = {"rows": 0, "accepted": 0, "duplicates": 0, "rejected": 0}
        errors: list[RowError] = []
        pending: list[LeadEvent] = []

        async def flush() -> None:
            repeats = await intake.accept(pending, request.headers.get("x-correlation-id"), now)
            result["duplicates"] += len(repeats)
            result["accepted"] += len(pending) - len(repeats)
            pending.clear()

        try:
            for row in parse_rows(decode_lines(_chunks(spool)), show, settings.max_csv_rows):
                result["rows"] += 1
                if row.body is None:
                    result["rejected"] += 1
                    if len(errors) < _MAX_REPORTED_ERRORS:
                        errors.append(RowError(row=row.row, errors=row.errors))
                    continue
                pending.append(
                    to_lead_event(
                        Channel.TRADESHOW, row.body, received_at=now, source="csv:tradeshow",
                        default_region=settings.default_phone_region,
                    )
                )  # fmt: skip
                if len(pending) >= settings.csv_publish_chunk:
                    await flush()
            await flush()
        except CsvImportError as exc:
            raise HTTPException(
                422, {"error": "validation_failed", "errors": [{"path": "body", "reason": str(exc)}]}
            ) from None
        metrics.CSV_ROWS.labels("accepted").inc(result["accepted"])
        metrics.CSV_ROWS.labels("duplicate").inc(result["duplicates"])
        metrics.CSV_ROWS.labels("rejected").inc(result["rejected"])
        return ImportResponse(show=show, errors=errors, errors_truncated=result["rejected"] > len(errors), **result)

    try:
        return await respond(request, principal, 200, produce, body_digest=digest)
    finally:
        spool.close()
