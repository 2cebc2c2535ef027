"""Statements run on the driver's cursor (db.driver.Statement) bind and read values as
SQLAlchemy's own execution does, on SQLite and PostgreSQL, and fail as it fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from mlgov.server.alarms.tables import AlarmHistory
from mlgov.server.db.driver import Statement, binder, placeholders, run
from mlgov.server.db.engine import unit_of_work

H = AlarmHistory
COLUMNS = (H.id, H.account_id, H.alarm_name, H.item_type, H.summary, H.data, H.timestamp)
INSERT = Statement(insert(H).returning(*COLUMNS))
BY_ID = Statement(select(*COLUMNS).where(H.id == bindparam("id")))
# "StateUpdate" is a bind parameter with a value of its own: the caller does not pass it.
STATE_UPDATES = Statement(select(H.id).where(H.item_type == "StateUpdate").order_by(H.id))
RENAME = Statement(
    update(H).where(H.account_id == bindparam("account")).values(alarm_name=bindparam("name"))
)


def _values(id_: str, moment: datetime, item_type: str = "StateUpdate") -> dict[str, object]:
    return {
        "id": id_,
        "account_id": "acct-1",
        "alarm_name": "a",
        "item_type": item_type,
        "summary": "moved",
        "data": {"oldState": {"value": "OK"}, "n": [1, 2.5, None], "text": "é\"'"},
        "timestamp": moment,
    }


def test_values_cross_as_sqlalchemy_binds_and_reads_them(app: FastAPI) -> None:
    factory = app.state.runtime.session_factory
    moment = datetime(2026, 12, 8, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=2)))
    with unit_of_work(factory) as session:
        inserted = INSERT.first(session.connection(), _values("ah-1", moment))
        INSERT.first(session.connection(), _values("ah-2", moment, "ConfigurationUpdate"))
    with factory() as session:
        through_sqlalchemy = session.execute(select(*COLUMNS).where(H.id == "ah-1")).one()
        read = BY_ID.first(session.connection(), {"id": "ah-1"})
        missing = BY_ID.first(session.connection(), {"id": "ah-9"})
        updates = STATE_UPDATES.rows(session.connection())
    assert tuple(inserted) == tuple(read) == tuple(through_sqlalchemy)
    assert read.data == {"oldState": {"value": "OK"}, "n": [1, 2.5, None], "text": "é\"'"}
    assert read.timestamp == moment and read.timestamp.tzinfo == UTC
    assert inserted._fields == ("id", "account_id", "alarm_name", "item_type", "summary", "data",
                                "timestamp")  # fmt: skip
    assert missing is None
    assert [r.id for r in updates] == ["ah-1"]


def test_a_statement_counts_what_it_changed(app: FastAPI) -> None:
    factory = app.state.runtime.session_factory
    with unit_of_work(factory) as session:
        for n in range(3):
            INSERT.first(session.connection(), _values(f"ah-{n}", datetime.now(UTC)))
    with unit_of_work(factory) as session:
        assert RENAME.execute(session.connection(), {"account": "acct-1", "name": "b"}) == 3
        assert RENAME.execute(session.connection(), {"account": "acct-2", "name": "c"}) == 0
    with factory() as session:
        names = session.execute(select(H.alarm_name)).scalars().all()
    assert names == ["b", "b", "b"]


def test_a_missing_parameter_is_an_error_not_null(app: FastAPI) -> None:
    with app.state.runtime.session_factory() as session, pytest.raises(KeyError, match="id"):
        BY_ID.first(session.connection(), {})


def test_errors_are_sqlalchemy_errors(app: FastAPI) -> None:
    factory = app.state.runtime.session_factory
    with unit_of_work(factory) as session:
        INSERT.first(session.connection(), _values("ah-1", datetime.now(UTC)))
    with factory() as session, pytest.raises(IntegrityError):
        # The routes answer SQLAlchemy's IntegrityError with a 409: not the driver's own error.
        INSERT.first(session.connection(), _values("ah-1", datetime.now(UTC)))


def test_expanding_parameters_are_refused(app: FastAPI) -> None:
    statement = Statement(select(H.id).where(H.id.in_(bindparam("ids", expanding=True))))
    with app.state.runtime.session_factory() as session, pytest.raises(TypeError):
        statement.rows(session.connection(), {"ids": ["ah-1"]})


def test_many_rows_at_once_fail_as_sqlalchemy_fails(app: FastAPI) -> None:
    factory = app.state.runtime.session_factory
    with unit_of_work(factory) as session:
        connection = session.connection()
        sql = f"INSERT INTO {H.__tablename__} (id, account_id, alarm_name, item_type, summary, data, timestamp) VALUES ({placeholders(connection, 7)})"  # noqa: E501
        moment = binder(H.__table__.c.timestamp, connection)(datetime.now(UTC))
        rows = [(f"ah-{n}", "acct-1", "a", "StateUpdate", "s", "{}", moment) for n in range(3)]
        run(connection, sql, rows, many=True).close()
    with factory() as session:
        assert len(STATE_UPDATES.rows(session.connection())) == 3
    with factory() as session, pytest.raises(IntegrityError):
        run(session.connection(), sql, [rows[0]], many=True)


def test_a_bare_connection_is_written_in_a_transaction_it_begins(app: FastAPI) -> None:
    """On SQLite the driver's connection runs without a transaction of its own (SQLAlchemy
    begins them): a statement on a fresh connection begins one, with its write turn."""
    engine = app.state.runtime.engine
    with engine.connect() as connection:
        INSERT.first(connection, _values("ah-1", datetime.now(UTC)))
        assert connection.in_transaction()
        connection.rollback()
    with engine.connect() as connection:
        assert BY_ID.first(connection, {"id": "ah-1"}) is None  # rolled back, not autocommitted
        INSERT.first(connection, _values("ah-2", datetime.now(UTC)))
        connection.commit()
    with app.state.runtime.session_factory() as session:
        assert BY_ID.first(session.connection(), {"id": "ah-2"}) is not None
