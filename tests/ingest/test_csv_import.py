"""Trade-show badge lists: Japanese and English headers, UTF-8 and Shift_JIS, per-row errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingest.csv_import import CsvImportError, decode_lines, map_headers, parse_rows
from shared.normalize import lead_id_for

CSV = Path(__file__).resolve().parent.parent / "fixtures" / "csv"


def rows(name: str, show: str = "Expo 2026", max_rows: int = 1000, chunk: int = 7) -> list:  # type: ignore[type-arg]
    data = (CSV / name).read_bytes()
    # Small chunks: a multi-byte character or a quoted newline split across reads must survive.
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return list(parse_rows(decode_lines(chunks), show, max_rows))


def test_japanese_headers_map_to_leadflow_fields() -> None:
    mapping = map_headers(["氏名", "会社名", "役職", "メールアドレス", "電話番号"])
    assert list(mapping.values()) == ["name", "company", "title", "email", "phone"]


def test_good_rows_of_a_japanese_list_are_accepted_and_bad_rows_reported_by_line() -> None:
    results = rows("badges_ja.csv")
    good = [r.body for r in results if r.body is not None]
    bad = [(r.row, r.errors[0]["path"]) for r in results if r.body is None]
    assert [b.email for b in good] == [
        "tanaka@example.co.jp",
        "sato@test-shoji.example.jp",
        "takahashi@yamato.example.jp",
    ]
    assert bad == [(4, "email")]


def test_a_department_joins_the_title_and_letter_ratings_become_temperatures() -> None:
    first = rows("badges_ja.csv")[0].body
    assert first is not None
    assert (first.title, first.rating, first.notes) == ("営業部 部長", "hot", "来月デモ希望")


def test_a_quoted_note_spanning_lines_stays_in_its_row() -> None:
    last = [r.body for r in rows("badges_ja.csv") if r.body is not None][-1]
    assert last.notes == "複数行の\nメモ"


def test_an_excel_shift_jis_export_is_read() -> None:
    [result] = rows("badges_sjis.csv")
    assert result.body is not None
    assert (result.body.name, result.body.company) == ("山田 花子", "有限会社ヤマダ")


def test_an_english_list_joins_first_and_last_names_and_reports_an_unknown_rating() -> None:
    results = rows("badges_en.csv")
    assert results[0].body is not None
    assert results[0].body.name == "Jane Doe"
    assert results[1].body is None
    assert results[1].errors[0]["path"] == "rating"


def test_the_same_person_at_the_same_show_gets_the_same_event_id_in_every_upload() -> None:
    first = rows("badges_ja.csv")[0].body
    again = rows("badges_ja.csv", chunk=4096)[0].body
    other_show = rows("badges_ja.csv", show="Other Expo")[0].body
    assert first is not None
    assert again is not None
    assert other_show is not None
    assert first.event_id == again.event_id != other_show.event_id
    assert lead_id_for(first.email) == lead_id_for("tanaka@example.co.jp")


def test_a_file_without_an_email_column_is_refused_as_a_whole() -> None:
    with pytest.raises(CsvImportError, match="no email column"):
        list(parse_rows(iter(["name,company\n", "a,b\n"]), "Expo", 10))


def test_a_file_over_the_row_limit_is_refused() -> None:
    with pytest.raises(CsvImportError, match="more than 2 rows"):
        rows("badges_ja.csv", max_rows=2)
