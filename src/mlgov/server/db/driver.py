"""Statements sent straight to the driver, for the few paths where SQLAlchemy's per-row or
per-statement work costs more than the database's own (metric ingest, alarm rounds, the outbox,
the audit record every call appends).

Values cross as SQLAlchemy's column types would hand them over (:func:`binder`), so rows written
here read back through the ORM unchanged.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from sqlalchemy import ClauseElement, ColumnElement, Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler


def placeholder(connection: Connection) -> str:
    """The driver's positional placeholder: ``%s`` for psycopg, ``?`` for sqlite3."""
    return "%s" if connection.dialect.name == "postgresql" else "?"


def placeholders(connection: Connection, count: int) -> str:
    return ", ".join([placeholder(connection)] * count)


def binder(column: ColumnElement[Any], connection: Connection) -> Callable[[Any], Any]:
    """What SQLAlchemy hands the driver for a value of ``column`` on this database.

    Kept per dialect (an engine's: a JSON column's serializer is the engine's): a call that
    writes one event asked for its time's binder anew each time."""
    dialect = connection.dialect
    known = _BINDERS.setdefault(dialect, {})
    found = known.get(column)
    if found is None:
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        found = known[column] = process if process is not None else _unchanged
    return found


_BINDERS: weakref.WeakKeyDictionary[Dialect, dict[ColumnElement[Any], Callable[[Any], Any]]] = (
    weakref.WeakKeyDictionary()
)


def reader(
    column: ColumnElement[Any], connection: Connection, type_code: Any
) -> Callable[[Any], Any] | None:
    """What SQLAlchemy does to the driver's value of ``column`` (``type_code``: the cursor's
    description of it) on this database; None when it takes the value as it is."""
    dialect = connection.dialect
    return column.type.dialect_impl(dialect).result_processor(dialect, type_code)


def _unchanged(value: Any) -> Any:
    return value


# A row of a driver statement's columns, by their keys: a named tuple, read like a Row.
Record: TypeAlias = Any


class Statement:
    """A Core statement run on the driver's cursor: compiled once for each database and driver,
    its values bound and its columns read as SQLAlchemy's types would, with none of SQLAlchemy's
    per-execution work.

    For the statements every call of a hot route runs. Through ``Connection.execute`` a lookup
    of an artifact by its hash took 91 us and a version's insert 240 us of a registration's
    budget; on the driver's cursor the lookup takes 2 us (2026-12-08). Errors are SQLAlchemy's
    as ``Connection.execute`` raises them (an ``IntegrityError`` is still a conflict), and a lost
    PostgreSQL connection is invalidated as it would be.

    Parameters are passed by the keys of the statement's bind parameters; a bind with a value of
    its own (``latest_version + 1``) keeps it, and a missing one is a ``KeyError``. An insert
    takes a value for every column: column defaults are not applied. Expanding (``IN``)
    parameters are not supported: their SQL changes with every execution.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[tuple[str, str], _Form] = {}

    def rows(self, connection: Connection, params: Mapping[str, Any] | None = None) -> list[Record]:
        form = self._form(connection)
        cursor = form.run(connection, params or {})
        found = form.records(cursor, cursor.fetchall())
        cursor.close()
        return found

    def first(self, connection: Connection, params: Mapping[str, Any] | None = None) -> Record:
        """The first row, or None."""
        form = self._form(connection)
        cursor = form.run(connection, params or {})
        row = cursor.fetchone()
        found = None if row is None else form.records(cursor, [row])[0]
        cursor.close()
        return found

    def execute(self, connection: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        cursor = self._form(connection).run(connection, params or {})
        count = int(cursor.rowcount)
        cursor.close()
        return count

    def _form(self, connection: Connection) -> _Form:
        dialect = connection.dialect
        key = (dialect.name, dialect.driver)
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = _Form(self.statement, dialect)
        return form


_REQUIRED = object()


def run(connection: Connection, sql: str, bound: Any, *, many: bool = False) -> Any:
    """Execute ``sql`` with values already bound for the driver (for each row, when ``many``)
    on a cursor of the connection's own, in its transaction: the cursor.

    The transaction is begun as SQLAlchemy begins it (on SQLite: the write turn and ``BEGIN
    IMMEDIATE``). A driver error is raised as SQLAlchemy's ``Connection.execute`` raises it, and
    a lost PostgreSQL connection is invalidated as it would be.
    """
    if not connection.in_transaction():
        connection.begin()
    dialect = connection.dialect
    raw = connection.connection
    cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cursor.executemany(sql, bound)
        else:
            cursor.execute(sql, bound)
    except dialect.loaded_dbapi.Error as exc:
        cursor.close()
        invalidated = dialect.is_disconnect(exc, raw, cursor)
        if invalidated:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            sql,
            bound,
            exc,
            dialect.loaded_dbapi.Error,
            connection_invalidated=invalidated,
            dialect=dialect,
            ismulti=many,
        ) from exc
    return cursor


class _Form:
    """A statement as one driver takes it: its SQL, how to bind its values, how to read rows."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if not isinstance(compiled, SQLCompiler):
            raise TypeError(f"not a SQL statement: {statement!r}")
        self.sql = compiled.string
        self.dialect = dialect
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        if any(bind.expanding for bind in by_name.values()):
            raise TypeError("expanding (IN) parameters change the SQL on every execution")
        # (name the driver knows, key the caller passes, the bind's own value or _REQUIRED,
        # processor)
        names = compiled.positiontup if dialect.positional else list(by_name)
        self.binds = [
            (
                name,
                by_name[name].key,
                _REQUIRED if by_name[name].required else by_name[name].effective_value,
                by_name[name].type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name in names or []
        ]
        self.columns = list(getattr(statement, "exported_columns", None) or [])
        self.record: Any = namedtuple("Record", [c.key for c in self.columns], rename=True)  # type: ignore[misc]
        self.readers: list[Callable[[Any], Any] | None] | None = None

    def run(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        values = []
        for _name, key, own, process in self.binds:
            value = params[key] if own is _REQUIRED else params.get(key, own)
            values.append(value if process is None else process(value))
        bound: Any = (
            values
            if self.dialect.positional
            else dict(zip((name for name, *_ in self.binds), values, strict=True))
        )
        return run(connection, self.sql, bound)

    def records(self, cursor: Any, rows: list[Any]) -> list[Record]:
        readers = self.readers
        if readers is None:
            # What SQLAlchemy does to each column, by the driver's description of it.
            readers = self.readers = [
                column.type.dialect_impl(self.dialect).result_processor(self.dialect, described[1])
                for column, described in zip(self.columns, cursor.description, strict=True)
            ]
        record = self.record
        if not any(readers):
            return [record._make(row) for row in rows]
        return [
            record._make(
                value if read is None else read(value)
                for read, value in zip(readers, row, strict=True)
            )
            for row in rows
        ]
