"""Bulk writes as one statement over column arrays: ``INSERT … SELECT FROM unnest(:a, :b, …)``.

Why: an ``executemany`` over a list of dicts has SQLAlchemy process every parameter of every row in Python,
and a multi-row VALUES list is compiled again for each batch size. (Measured for the router's leads: no change
in its drain rate within the noise, bench/README.md; the gain is one shape and one round trip for both.) Here
the batch travels as one array per column, unnested into rows on the server: one prepared statement for any
batch size, one round trip. JSON columns travel as text (serialized once, by orjson) and are cast on the server.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.sql.dml import Insert

from shared.db import json_text


def upsert_statement(table: sa.Table, key: str, json_columns: Collection[str]) -> Insert:
    """Insert every column of ``table`` from arrays named after the columns; on a ``key`` conflict, replace the
    row's other columns."""
    names = [c.name for c in table.columns]

    def array_type(column: sa.Column[Any]) -> ARRAY[Any]:
        return ARRAY(sa.Text if column.name in json_columns else column.type)

    unnested = (
        sa.func.unnest(*(sa.bindparam(c.name, type_=array_type(c)) for c in table.columns))
        .table_valued(*(sa.column(c.name, sa.Text if c.name in json_columns else c.type) for c in table.columns))
        .render_derived(name="batch")
    )
    statement = insert(table).from_select(
        names, sa.select(*(sa.cast(unnested.c[n], JSONB) if n in json_columns else unnested.c[n] for n in names))
    )
    return statement.on_conflict_do_update(
        index_elements=[key], set_={n: statement.excluded[n] for n in names if n != key}
    )


def column_arrays(
    table: sa.Table, rows: Sequence[Mapping[str, Any]], json_columns: Collection[str]
) -> dict[str, list[Any]]:
    """The rows as one list per column (the parameters of ``upsert_statement``); every row has every column."""
    arrays: dict[str, list[Any]] = {c.name: [row[c.name] for row in rows] for c in table.columns}
    for name in json_columns:
        arrays[name] = [json_text(value) for value in arrays[name]]
    return arrays
