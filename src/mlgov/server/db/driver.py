"""Statements sent straight to the driver, for the few paths where SQLAlchemy's per-row or
per-statement work costs more than the database's own (metric ingest, alarm rounds, the outbox,
the audit record every call appends).

Values cross as SQLAlchemy's column types would hand them over (:func:`binder`), so rows written
here read back through the ORM unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Connection


def placeholder(connection: Connection) -> str:
    """The driver's positional placeholder: ``%s`` for psycopg, ``?`` for sqlite3."""
    return "%s" if connection.dialect.name == "postgresql" else "?"


def placeholders(connection: Connection, count: int) -> str:
    return ", ".join([placeholder(connection)] * count)


def binder(column: ColumnElement[Any], connection: Connection) -> Callable[[Any], Any]:
    """What SQLAlchemy hands the driver for a value of ``column`` on this database."""
    dialect = connection.dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _unchanged


def reader(
    column: ColumnElement[Any], connection: Connection, type_code: Any
) -> Callable[[Any], Any] | None:
    """What SQLAlchemy does to the driver's value of ``column`` (``type_code``: the cursor's
    description of it) on this database; None when it takes the value as it is."""
    dialect = connection.dialect
    return column.type.dialect_impl(dialect).result_processor(dialect, type_code)


def _unchanged(value: Any) -> Any:
    return value
