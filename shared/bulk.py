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
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.sql.dml import Insert

from shared.db import json_text


def _from_arrays(table: sa.Table, names: Sequence[str], json_columns: Collection[str]) -> PgInsert:
    """INSERT INTO table (names) SELECT FROM unnest(:name, …): each column one array parameter named after it."""
    columns = [table.c[n] for n in names]

    def array_type(column: sa.Column[Any]) -> ARRAY[Any]:
        return ARRAY(sa.Text if column.name in json_columns else column.type)

    unnested = (
        sa.func.unnest(*(sa.bindparam(c.name, type_=array_type(c)) for c in columns))
        .table_valued(*(sa.column(c.name, sa.Text if c.name in json_columns else c.type) for c in columns))
        .render_derived(name="batch")
    )
    return insert(table).from_select(
        list(names), sa.select(*(sa.cast(unnested.c[n], JSONB) if n in json_columns else unnested.c[n] for n in names))
    )


def upsert_statement(table: sa.Table, key: str, json_columns: Collection[str]) -> Insert:
    """Insert every column of ``table`` from arrays named after the columns; on a ``key`` conflict, replace the
    row's other columns."""
    names = [c.name for c in table.columns]
    statement = _from_arrays(table, names, json_columns)
    return statement.on_conflict_do_update(
        index_elements=[key], set_={n: statement.excluded[n] for n in names if n != key}
    )


def insert_new_statement(table: sa.Table, names: Sequence[str], key: str) -> Insert:
    """Insert these columns of ``table`` from arrays named after them; a row whose ``key`` exists is left as it
    is (a redelivery). The other columns take their defaults."""
    return _from_arrays(table, names, ()).on_conflict_do_nothing(index_elements=[key])


def any_text(column: sa.ColumnElement[str], values: Sequence[str]) -> sa.ColumnElement[bool]:
    """``column = ANY(:values)``: one array parameter instead of an IN list, so any number of values is one
    statement (an expanding IN is rewritten for each count)."""
    return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(sa.Text)))


def column_arrays(
    table: sa.Table, rows: Sequence[Mapping[str, Any]], json_columns: Collection[str]
) -> dict[str, list[Any]]:
    """The rows as one list per column (the parameters of ``upsert_statement``); every row has every column."""
    arrays: dict[str, list[Any]] = {c.name: [row[c.name] for row in rows] for c in table.columns}
    for name in json_columns:
        arrays[name] = [json_text(value) for value in arrays[name]]
    return arrays
