"""A trade show's badge list (CSV) → trade-show bodies, row by row. Pure: no I/O, the caller feeds bytes.

Exhibitions export lists in English or Japanese, as UTF-8 (with or without BOM) or as Excel's Shift_JIS
(cp932). Headers are matched after NFKC, lower-casing and dropping spaces, so "E-mail", "Ｅメール" and
"メールアドレス" all find the email column.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.ingest.schemas import TradeshowEvent
from shared.normalize import clean_text, normalize_email

# LeadFlow field → header spellings seen in badge-scanner and exhibition exports.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "emailaddress", "mail", "メールアドレス", "メール", "eメール", "e-mailアドレス"),
    "name": ("name", "fullname", "contactname", "氏名", "名前", "お名前", "フルネーム"),
    "last_name": ("lastname", "surname", "familyname", "姓"),
    "first_name": ("firstname", "givenname", "名"),
    "company": (
        "company",
        "companyname",
        "organization",
        "organisation",
        "account",
        "会社名",
        "企業名",
        "会社",
        "勤務先",
    ),
    "title": ("title", "jobtitle", "position", "role", "役職", "肩書", "肩書き", "役職名"),
    "department": ("department", "dept", "部署", "部署名", "所属"),
    "phone": ("phone", "phonenumber", "telephone", "tel", "mobile", "電話番号", "電話", "携帯電話", "携帯番号"),
    "country": ("country", "国", "国名"),
    "industry": ("industry", "業種", "業界"),
    "employees": ("employees", "companysize", "headcount", "従業員数", "社員数"),
    "rating": ("rating", "rank", "temperature", "lead rating", "評価", "ランク", "温度感", "見込み度"),
    "notes": ("notes", "note", "memo", "comments", "comment", "メモ", "備考", "商談メモ", "コメント"),
    "occurred_at": ("scannedat", "scantime", "occurredat", "timestamp", "date", "スキャン日時", "日時", "来場日時"),
}
_RATINGS = {
    "hot": "hot", "a": "hot", "ホット": "hot", "高": "hot", "warm": "warm", "b": "warm", "ウォーム": "warm",
    "中": "warm", "cold": "cold", "c": "cold", "コールド": "cold", "低": "cold",
}  # fmt: skip


def _header_key(header: str) -> str:
    text = clean_text(header) or ""
    return "".join(text.lower().split()).replace("_", "")


_LOOKUP = {_header_key(alias): field for field, aliases in HEADER_ALIASES.items() for alias in aliases}


class CsvImportError(ValueError):
    """The file as a whole cannot be read (no header, no email column, too many rows)."""


def map_headers(headers: list[str]) -> dict[int, str]:
    """Column index → LeadFlow field, for the columns LeadFlow reads; the first column of a field wins."""
    mapping: dict[int, str] = {}
    for index, header in enumerate(headers):
        field = _LOOKUP.get(_header_key(header))
        if field is not None and field not in mapping.values():
            mapping[index] = field
    return mapping


@dataclass(frozen=True)
class RowResult:
    """One data row: its 1-based line in the file (the header is line 1), and a body or its errors."""

    row: int
    body: TradeshowEvent | None
    errors: list[dict[str, str]]


def _is_cjk(text: str | None) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text or "")


def row_body(values: dict[str, str], show: str) -> dict[str, Any]:
    """A row's mapped values as a trade-show request body."""
    body: dict[str, Any] = {k: v for k, v in values.items() if v and k not in ("first_name", "last_name", "department")}
    if "name" not in body:
        # Japanese names are written family name first (姓 名); others given name first.
        parts = [values.get("first_name"), values.get("last_name")]
        if any(_is_cjk(p) for p in parts):
            parts.reverse()
        if any(parts):
            body["name"] = " ".join(p for p in parts if p)
    if values.get("department") and values.get("title"):
        body["title"] = f"{values['department']} {values['title']}"
    rating = body.pop("rating", None)
    if rating:
        body["rating"] = _RATINGS.get((clean_text(rating) or "").lower(), rating)
    body["show"] = show
    body["action"] = "badge_scan"
    # The same person scanned at the same show is one badge scan, whichever upload carried the row.
    identity = "|".join((clean_text(show) or "", normalize_email(values.get("email", "")), body.get("occurred_at", "")))
    body["event_id"] = f"csv:{hashlib.sha256(identity.encode()).hexdigest()[:32]}"
    return body


def parse_rows(lines: Iterable[str], show: str, max_rows: int) -> Iterator[RowResult]:
    """Every data row of the file, validated; raises CsvImportError for a file that has no usable header."""
    reader = csv.reader(lines)
    try:
        headers = next(reader)
    except StopIteration:
        raise CsvImportError("the file is empty") from None
    except csv.Error as exc:
        raise CsvImportError(f"line 1: {exc}") from None
    mapping = map_headers(headers)
    if "email" not in mapping.values():
        raise CsvImportError("no email column (e.g. 'email', 'メールアドレス') in the header row")
    count = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            count += 1
            yield RowResult(reader.line_num, None, [{"path": "row", "reason": str(exc)}])
            continue
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are common at the end of exports
        count += 1
        if count > max_rows:
            raise CsvImportError(f"more than {max_rows} rows; split the file")
        values = {field: cells[i].strip() for i, field in mapping.items() if i < len(cells)}
        try:
            body = TradeshowEvent.model_validate(row_body(values, show))
        except ValidationError as exc:
            errors = [
                {"path": "/".join(str(p) for p in e.get("loc", ())) or "row", "reason": e.get("msg", "invalid")}
                for e in exc.errors()
            ]
            yield RowResult(reader.line_num, None, errors)
            continue
        yield RowResult(reader.line_num, body, [])


def decode_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Text lines of an upload: UTF-8 (BOM or not) when it decodes, else Excel's Shift_JIS (cp932)."""
    iterator = iter(chunks)
    head = b""
    for chunk in iterator:
        head += chunk
        if len(head) >= 64 * 1024:
            break
    encoding = "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        encoding = "cp932"
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    pending = ""

    def split(text: str) -> Iterator[str]:
        nonlocal pending
        pending += text
        *complete, pending = pending.splitlines(keepends=True) or [""]
        if pending.endswith(("\n", "\r")):
            complete.append(pending)
            pending = ""
        yield from complete

    yield from split(decoder.decode(head))
    for chunk in iterator:
        yield from split(decoder.decode(chunk))
    yield from split(decoder.decode(b"", final=True))
    if pending:
        yield pending
