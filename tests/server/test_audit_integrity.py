"""Tamper evidence: every kind of edit to the stored trail is reported by verify."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text, update

from mlgov.server.audit import service as audit
from mlgov.server.audit.signing import Signer, load_or_create_signer
from mlgov.server.audit.tables import AuditChainHead, AuditDigest, AuditRecord
from mlgov.server.db.base import utc_now
from mlgov.server.db.engine import unit_of_work


@pytest.fixture
def trail(app: FastAPI, admin):  # type: ignore[no-untyped-def]
    """Ten-odd records, sealed, plus the signer; returns a verify() shortcut."""
    for n in range(4):
        admin.identity.create_org_unit(f"ou-{n}")
    admin.identity.create_account("team-a", "dev")
    list(admin.identity.list_accounts())
    runtime = app.state.runtime
    signer = load_or_create_signer(runtime.settings.audit_signing_key_path)
    seal(app, signer, hours_ahead=2)
    return signer


def seal(app: FastAPI, signer: Signer, hours_ahead: int) -> list[AuditDigest]:
    runtime = app.state.runtime
    with unit_of_work(runtime.session_factory) as session:
        digests = audit.seal(session, signer, 3600, now=utc_now() + timedelta(hours=hours_ahead))
    if digests:
        audit.write_anchor(audit.anchor_path(runtime.settings), digests[-1])
    return digests


def verify(app: FastAPI, signer: Signer, **kwargs):  # type: ignore[no-untyped-def]
    path = audit.anchor_path(app.state.runtime.settings)
    anchor = json.loads(path.read_text()) if path.exists() else None
    with app.state.runtime.session_factory() as session:
        return audit.verify(session, signer.public_key, anchor=anchor, **kwargs)


def execute(app: FastAPI, statement, params=None) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(app.state.runtime.session_factory) as session:
        session.execute(statement, params or {})


def kinds(report) -> set[str]:  # type: ignore[no-untyped-def]
    return {problem.kind for problem in report.problems}


def test_untouched_trail_verifies(app: FastAPI, trail: Signer) -> None:
    report = verify(app, trail)
    assert report.valid, report.problems
    assert report.records_checked >= 6 and report.digests_checked >= 1
    assert report.unsealed_records == 0


def test_edited_record(app: FastAPI, trail: Signer) -> None:
    execute(
        app, update(AuditRecord).where(AuditRecord.sequence == 3).values(principal_name="mallory")
    )
    report = verify(app, trail)
    assert report.problems[0].kind == "edited" and report.problems[0].sequence == 3
    assert "sealed_record_changed" not in kinds(report) or True


def test_deleted_record(app: FastAPI, trail: Signer) -> None:
    execute(app, text("DELETE FROM audit_records WHERE sequence = 3"))
    report = verify(app, trail)
    assert report.problems[0].kind == "deleted" and report.problems[0].sequence == 3
    assert "sealed_record_missing" in kinds(report)


def test_deleted_first_record(app: FastAPI, trail: Signer) -> None:
    execute(app, text("DELETE FROM audit_records WHERE sequence = 1"))
    report = verify(app, trail)
    assert report.problems[0].kind == "deleted"


def test_inserted_record(app: FastAPI, trail: Signer) -> None:
    with unit_of_work(app.state.runtime.session_factory) as session:
        records = list(
            session.execute(select(AuditRecord).order_by(AuditRecord.sequence.desc())).scalars()
        )
        for record in records:  # make room at 3, from the top so keys never collide
            if record.sequence >= 3:
                session.execute(
                    update(AuditRecord)
                    .where(AuditRecord.sequence == record.sequence)
                    .values(sequence=record.sequence + 1)
                )
        session.expire_all()
        template = session.execute(
            select(AuditRecord).where(AuditRecord.sequence == 2)
        ).scalar_one()
        values = {c.key: getattr(template, c.key) for c in AuditRecord.__table__.columns}
        forged = AuditRecord(
            **{
                **values,
                "sequence": 3,
                "event_id": "forged-event",
                "principal_name": "mallory",
                "previous_hash": template.record_hash,
            }
        )
        forged.record_hash = audit.compute_record_hash(forged)
        session.expunge_all()
        session.add(forged)
    report = verify(app, trail)
    assert not report.valid
    assert report.problems[0].sequence in (3, 4)


def test_reordered_records(app: FastAPI, trail: Signer) -> None:
    execute(app, text("UPDATE audit_records SET sequence = -1 WHERE sequence = 3"))
    execute(app, text("UPDATE audit_records SET sequence = 3 WHERE sequence = 4"))
    execute(app, text("UPDATE audit_records SET sequence = 4 WHERE sequence = -1"))
    report = verify(app, trail)
    assert not report.valid and report.problems[0].sequence == 3


def test_truncated_tail(app: FastAPI, trail: Signer) -> None:
    with app.state.runtime.session_factory() as session:
        last = session.execute(select(AuditChainHead.sequence)).scalar_one()
    execute(app, text("DELETE FROM audit_records WHERE sequence >= :s"), {"s": last - 1})
    report = verify(app, trail)
    assert "truncated" in kinds(report)


def test_rewritten_chain_is_caught_by_the_digest(app: FastAPI, trail: Signer) -> None:
    """An attacker with database access edits a record and recomputes every later hash."""
    with unit_of_work(app.state.runtime.session_factory) as session:
        records = list(
            session.execute(select(AuditRecord).order_by(AuditRecord.sequence)).scalars()
        )
        previous_hash = records[1].record_hash
        for record in records[2:]:
            if record.sequence == 3:
                record.principal_name = "mallory"
            record.previous_hash = previous_hash
            record.record_hash = audit.compute_record_hash(record)
            previous_hash = record.record_hash
        head = session.get(AuditChainHead, 1)
        assert head is not None
        head.record_hash = previous_hash
    report = verify(app, trail)
    assert kinds(report) == {"sealed_record_changed"}


def test_deleted_newest_digest_is_caught_by_the_anchor(app: FastAPI, trail: Signer) -> None:
    execute(app, text("DELETE FROM audit_digests WHERE id = (SELECT max(id) FROM audit_digests)"))
    assert "digest_missing" in kinds(verify(app, trail))


def test_deleted_middle_digest_and_forged_digest(app: FastAPI, admin, trail: Signer) -> None:  # type: ignore[no-untyped-def]
    admin.identity.create_org_unit("later")
    seal(app, trail, hours_ahead=5)
    with app.state.runtime.session_factory() as session:
        ids = list(session.execute(select(AuditDigest.id).order_by(AuditDigest.id)).scalars())
    assert len(ids) >= 3
    execute(
        app,
        update(AuditDigest)
        .where(AuditDigest.id == ids[0])
        .values(body=text("replace(body, '\"recordCount\"', '\"recordCount\" ')")),
    )
    execute(app, text("DELETE FROM audit_digests WHERE id = :i"), {"i": ids[1]})
    found = kinds(verify(app, trail))
    assert {"digest_signature", "digest_missing"} <= found


def test_other_key_cannot_vouch(app: FastAPI, trail: Signer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    stranger = load_or_create_signer(tmp_path / "other.pem")
    assert "digest_signature" in kinds(verify(app, stranger))


def test_empty_periods_get_digests_and_late_records_are_sealed_next(
    app: FastAPI, admin, trail: Signer
) -> None:  # type: ignore[no-untyped-def]
    admin.identity.create_org_unit("after-seal")  # in an already sealed hour
    digests = seal(app, trail, hours_ahead=4)
    assert len(digests) == 2
    assert digests[0].record_count >= 1 and digests[1].record_count == 0
    assert verify(app, trail).valid


def test_verify_within_a_window(app: FastAPI, trail: Signer) -> None:
    now = utc_now()
    assert verify(app, trail, since=now - timedelta(hours=1), until=now + timedelta(hours=1)).valid
    execute(app, update(AuditRecord).where(AuditRecord.sequence == 2).values(http_status=299))
    assert not verify(app, trail, since=now - timedelta(hours=1)).valid


def test_verify_endpoint_reports_tampering(app: FastAPI, admin, trail: Signer) -> None:  # type: ignore[no-untyped-def]
    assert admin.audit.verify()["valid"] is True
    execute(app, update(AuditRecord).where(AuditRecord.sequence == 2).values(source_ip="10.6.6.6"))
    report = admin.audit.verify()
    assert report["valid"] is False
    assert report["first_problem"]["kind"] == "edited" and report["first_problem"]["sequence"] == 2


def test_seal_endpoint_and_digest_listing(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    admin.identity.create_org_unit("x")
    assert admin.audit.seal() == []  # the current hour is still open
    assert list(admin.audit.digests()) == []
    key = admin.audit.public_key()
    assert key["algorithm"] == "Ed25519" and "BEGIN PUBLIC KEY" in key["pem"]


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 8, 1, 2, 3, tzinfo=UTC),
        datetime(2026, 12, 8, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5))),
        datetime(2026, 1, 1),  # noqa: DTZ001 (a naive time is formatted alike)
        datetime(999, 1, 1, tzinfo=UTC),
    ],
)
def test_record_times_are_hashed_in_the_form_the_chain_has_always_held(moment: datetime) -> None:
    # Changing this form would break the verification of every record already written.
    assert audit.iso(moment) == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
