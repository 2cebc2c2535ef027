from __future__ import annotations

import json

import pytest
from fastapi import FastAPI

from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit import outbox


def test_events_exist_only_if_their_transaction_commits(app: FastAPI) -> None:
    factory = app.state.runtime.session_factory

    def emit_then_fail() -> None:
        with unit_of_work(factory) as session:
            outbox.emit(
                session, account_id="acct-1", source="mlgov.test", detail_type="Lost", detail={}
            )
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        emit_then_fail()
    with unit_of_work(factory) as session:
        kept = outbox.emit(
            session,
            account_id="acct-1",
            source="mlgov.test",
            detail_type="Kept",
            detail={"n": 1},
            resources=["model/x"],
        )
    with factory() as session:
        rows = outbox.pending(session)
    assert [row.event_id for row in rows] == [kept]
    envelope = json.loads(rows[0].body)
    assert envelope["detail-type"] == "Kept" and envelope["version"] == "0"
    assert set(envelope) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
