"""The audit trail: append hash-chained records, seal periods with signed digests, verify, query.

Chain: record n stores ``previous_hash`` = hash of record n-1 and ``record_hash`` = SHA-256 of its
own canonical fields (including ``previous_hash`` and its sequence). Appends lock the one-row
chain head, so sequences are gap-free and commit in order.

Digests (like CloudTrail's hourly digest files): each closed period gets a JSON body naming the
sequence run it covers, a hash over those records' hashes and the previous digest's signature.
The string signed is ``<end time>\\n<digest id>\\n<sha256 of body>\\n<previous signature|null>``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from mlgov.errors import ErrorCode, InvalidRequest, MlgovError
from mlgov.formats.audit import EVENT_VERSION, AuditEvent, UserIdentity
from mlgov.server.audit.signing import Signer, fingerprint, verify_signature
from mlgov.server.audit.tables import AuditChainHead, AuditDigest, AuditRecord
from mlgov.server.db.base import utc_now
from mlgov.server.db.driver import Statement
from mlgov.server.kit.context import RequestContext
from mlgov.server.kit.ids import new_uuid
from mlgov.server.kit.redaction import bounded_json, canonical_json
from mlgov.settings import Settings

HEAD_ID = 1
_RECORDS = cast(Table, AuditRecord.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)
GENESIS_HASH = "0" * 64
DENIED_CODES = (ErrorCode.ACCESS_DENIED.value, ErrorCode.UNAUTHENTICATED.value)
# A period is sealed this long after it ends, so calls that started inside it have committed.
SEAL_GRACE = timedelta(seconds=5)
HASHED_FIELDS = (
    "sequence",
    "event_id",
    "event_time",
    "event_version",
    "event_source",
    "event_name",
    "action",
    "read_only",
    "principal_type",
    "principal_id",
    "principal_name",
    "principal_account_id",
    "access_key_id",
    "account_id",
    "source_ip",
    "user_agent",
    "http_method",
    "http_path",
    "http_status",
    "request_id",
    "request_parameters",
    "response_elements",
    "error_code",
    "error_message",
    "previous_hash",
)


def iso(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ``, as ``strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` writes it (the
    chain's hashes hold this form) in a third of the time: every call's record takes one."""
    if moment.year < 1000:  # strftime does not pad the year; isoformat does
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{moment.isoformat(timespec='microseconds')[:26]}Z"


def compute_record_hash(record: AuditRecord) -> str:
    return record_hash_of({name: getattr(record, name) for name in HASHED_FIELDS})


def record_hash_of(values: dict[str, Any]) -> str:
    hashed: dict[str, Any] = {}
    for name in HASHED_FIELDS:
        value = values[name]
        hashed[name] = iso(value) if isinstance(value, datetime) else value
    return hashlib.sha256(canonical_json(hashed).encode()).hexdigest()


def _clean(text: str | None, limit: int) -> str | None:
    # PostgreSQL text cannot hold NUL; CloudTrail truncates these fields at 1 KB.
    return None if text is None else text.replace("\x00", "")[:limit]


# Every call appends a record: the chain head's read, the record's insert and the head's move go
# to the driver's cursor (db.driver.Statement). SQLAlchemy's compiling, parameter handling and
# result wrapping of the three took about as long as the database's own work for them.
_READ_HEAD = Statement(
    select(_HEAD.c.sequence, _HEAD.c.record_hash, _HEAD.c.event_time)
    .where(_HEAD.c.id == HEAD_ID)
    .with_for_update()  # PostgreSQL: appends take the head in turn; SQLite's writer is one
)
_INSERT_RECORD = Statement(insert(_RECORDS))
_MOVE_HEAD = Statement(
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(
        sequence=bindparam("new_sequence"),
        record_hash=bindparam("new_hash"),
        event_time=bindparam("new_time"),
    )
)


def append_call_record(
    session: Session,
    settings: Settings,
    ctx: RequestContext,
    *,
    method: str,
    path: str,
    status: int,
    parameters: dict[str, Any],
    response_elements: Any,
    error: MlgovError | None = None,
) -> None:
    """Append one API call's record to the chain, inside the caller's transaction.

    Every call runs this, so its three statements go to the driver on the session's connection,
    with none of the ORM's unit-of-work bookkeeping.
    """
    connection = session.connection()
    head = _READ_HEAD.first(connection)
    if head is None:
        raise RuntimeError("the audit chain has no head row: the schema was not set up")
    head_sequence, head_hash, head_time = head
    now = utc_now()
    event_time = max(now, head_time) if head_time else now
    caller = ctx.caller
    limit = settings.audit.max_field_bytes
    record: dict[str, Any] = {
        "sequence": head_sequence + 1,
        "event_id": new_uuid(),
        "event_time": event_time,
        "event_version": EVENT_VERSION,
        "event_source": f"{ctx.action.service}.mlgov",
        "event_name": ctx.action.verb,
        "action": ctx.action.name,
        "read_only": ctx.action.read_only,
        "principal_type": caller.principal_type if caller else None,
        "principal_id": caller.principal_id if caller else None,
        "principal_name": caller.principal_name if caller else None,
        "principal_account_id": caller.principal_account_id if caller else None,
        "access_key_id": caller.api_key_id if caller else None,
        "account_id": ctx.account_id,
        "source_ip": _clean(ctx.source_ip, 64),
        "user_agent": _clean(ctx.user_agent, 1024),
        "http_method": method,
        "http_path": _clean(path, 2048) or "",
        "http_status": status,
        "request_id": ctx.request_id,
        "request_parameters": bounded_json(parameters, limit),
        "response_elements": bounded_json(response_elements, limit),
        "error_code": str(error.code) if error else None,
        "error_message": _clean(error.message, 1024) if error else None,
        "previous_hash": head_hash,
    }
    record["record_hash"] = record_hash_of(record)
    _INSERT_RECORD.execute(connection, record)
    _MOVE_HEAD.execute(
        connection,
        {
            "new_sequence": record["sequence"],
            "new_hash": record["record_hash"],
            "new_time": event_time,
        },
    )


# --- records out -----------------------------------------------------------------------------


def to_event(record: AuditRecord) -> AuditEvent:
    identity_type = {"user": "User", "service": "ServicePrincipal"}.get(
        record.principal_type or "", "Anonymous"
    )
    return AuditEvent(
        event_version=record.event_version,
        event_id=record.event_id,
        event_time=record.event_time,
        event_source=record.event_source,
        event_name=record.event_name,
        user_identity=UserIdentity(
            type=identity_type,
            principal_id=record.principal_id,
            user_name=record.principal_name,
            account_id=record.principal_account_id,
            access_key_id=record.access_key_id,
        ),
        source_ip_address=record.source_ip,
        user_agent=record.user_agent,
        recipient_account_id=record.account_id,
        request_parameters=json.loads(record.request_parameters)
        if record.request_parameters
        else None,
        response_elements=json.loads(record.response_elements)
        if record.response_elements
        else None,
        error_code=record.error_code,
        error_message=record.error_message,
        read_only=record.read_only,
        request_id=record.request_id,
        additional_event_data={
            "action": record.action,
            "httpMethod": record.http_method,
            "path": record.http_path,
            "httpStatus": record.http_status,
            "sequence": record.sequence,
        },
    )


# --- sealing ---------------------------------------------------------------------------------


def _period_floor(moment: datetime, period: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return epoch + ((moment - epoch) // period) * period


def signed_string(body: dict[str, Any], body_text: str) -> bytes:
    body_hash = hashlib.sha256(body_text.encode()).hexdigest()
    previous = body.get("previousDigestSignature") or "null"
    return f"{body['digestEndTime']}\n{body['digestId']}\n{body_hash}\n{previous}".encode()


def hash_of_hashes(hashes: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for value in hashes:
        digest.update(value.encode())
    return digest.hexdigest()


def seal(
    session: Session, signer: Signer, period_seconds: int, now: datetime | None = None
) -> list[AuditDigest]:
    """Write a digest for every closed period not yet sealed; empty periods get one too."""
    period = timedelta(seconds=period_seconds)
    now = now or utc_now()
    last = session.execute(select(AuditDigest).order_by(AuditDigest.id.desc()).limit(1)).scalar()
    if last is None:
        first_time = session.execute(select(func.min(AuditRecord.event_time))).scalar()
        if first_time is None:
            return []
        start = _period_floor(first_time, period)
    else:
        start = last.period_end
    sealed: list[AuditDigest] = []
    next_sequence = (last.last_sequence or 0) + 1 if last else 1
    if last is not None and last.last_sequence is None:
        next_sequence = _covered_up_to(session, last.id) + 1
    while start + period + SEAL_GRACE <= now:
        end = start + period
        rows = session.execute(
            select(AuditRecord.sequence, AuditRecord.record_hash, AuditRecord.previous_hash)
            .where(AuditRecord.sequence >= next_sequence, AuditRecord.event_time < end)
            .order_by(AuditRecord.sequence)
        ).all()
        body: dict[str, Any] = {
            "digestVersion": "1",
            "digestId": (last.id + 1) if last else 1,
            "digestStartTime": iso(start),
            "digestEndTime": iso(end),
            "firstSequence": rows[0][0] if rows else None,
            "lastSequence": rows[-1][0] if rows else None,
            "recordCount": len(rows),
            "recordsHashAlgorithm": "SHA-256",
            "recordsHash": hash_of_hashes([row[1] for row in rows]),
            "firstPreviousHash": rows[0][2] if rows else None,
            "lastRecordHash": rows[-1][1] if rows else None,
            "previousDigestId": last.id if last else None,
            "previousDigestHashValue": hashlib.sha256(last.body.encode()).hexdigest()
            if last
            else None,
            "previousDigestSignature": last.signature if last else None,
            "publicKeyFingerprint": signer.fingerprint,
            "signatureAlgorithm": "Ed25519",
        }
        body_text = canonical_json(body)
        digest = AuditDigest(
            id=body["digestId"],
            period_start=start,
            period_end=end,
            first_sequence=body["firstSequence"],
            last_sequence=body["lastSequence"],
            record_count=len(rows),
            body=body_text,
            signature=signer.sign(signed_string(body, body_text)),
            public_key_fingerprint=signer.fingerprint,
            created_at=utc_now(),
        )
        session.add(digest)
        session.flush()
        sealed.append(digest)
        if rows:
            next_sequence = rows[-1][0] + 1
        last, start = digest, end
    return sealed


def _covered_up_to(session: Session, digest_id: int) -> int:
    covered = session.execute(
        select(func.max(AuditDigest.last_sequence)).where(AuditDigest.id <= digest_id)
    ).scalar()
    return int(covered or 0)


def list_digests(session: Session, page_size: int, after_id: int | None) -> list[AuditDigest]:
    query = select(AuditDigest).order_by(AuditDigest.id).limit(page_size + 1)
    if after_id is not None:
        query = query.where(AuditDigest.id > after_id)
    return list(session.execute(query).scalars())


def write_anchor(path: Path, digest: AuditDigest) -> None:
    """Keep the newest digest's id and signature outside the database, to catch deleted digests."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"digestId": digest.id, "signature": digest.signature}))
    temporary.replace(path)


def anchor_path(settings: Settings) -> Path:
    return settings.home / "audit" / "digest-head.json"


# --- verification ----------------------------------------------------------------------------


@dataclass
class Problem:
    kind: str
    message: str
    sequence: int | None = None
    digest_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "sequence": self.sequence,
            "digest_id": self.digest_id,
        }


@dataclass
class VerificationReport:
    records_checked: int = 0
    digests_checked: int = 0
    first_sequence: int | None = None
    last_sequence: int | None = None
    unsealed_records: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def _records(
    session: Session, since: datetime | None, until: datetime | None
) -> Iterator[AuditRecord]:
    query = select(AuditRecord).order_by(AuditRecord.sequence)
    if since:
        query = query.where(AuditRecord.event_time >= since)
    if until:
        query = query.where(AuditRecord.event_time < until)
    yield from session.execute(query.execution_options(yield_per=2000)).scalars()


def verify(
    session: Session,
    public_key: Ed25519PublicKey,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    anchor: dict[str, Any] | None = None,
) -> VerificationReport:
    """Report every edited, deleted, inserted or reordered record and bad or missing digest."""
    report = VerificationReport()
    hashes: dict[int, tuple[str, str]] = {}
    previous: AuditRecord | None = None
    for record in _records(session, since, until):
        report.records_checked += 1
        report.first_sequence = report.first_sequence or record.sequence
        report.last_sequence = record.sequence
        hashes[record.sequence] = (record.record_hash, record.previous_hash)
        if compute_record_hash(record) != record.record_hash:
            report.problems.append(
                Problem(
                    "edited",
                    f"record {record.sequence} does not match its hash: it was edited",
                    sequence=record.sequence,
                )
            )
        if previous is None and since is None and record.sequence != 1:
            report.problems.append(
                Problem(
                    "deleted",
                    f"the trail starts at record {record.sequence}: earlier records were deleted",
                    sequence=record.sequence,
                )
            )
        if (
            previous is None
            and since is None
            and record.sequence == 1
            and record.previous_hash != GENESIS_HASH
        ):
            report.problems.append(
                Problem("inserted", "the first record does not start the chain", sequence=1)
            )
        if previous is not None:
            if record.sequence != previous.sequence + 1:
                report.problems.append(
                    Problem(
                        "deleted",
                        f"records {previous.sequence + 1}..{record.sequence - 1} are missing",
                        sequence=previous.sequence + 1,
                    )
                )
            elif record.previous_hash != previous.record_hash:
                report.problems.append(
                    Problem(
                        "reordered",
                        f"record {record.sequence} does not follow record {previous.sequence}: "
                        "records "
                        "were inserted, deleted or reordered here",
                        sequence=record.sequence,
                    )
                )
            if record.event_time < previous.event_time:
                report.problems.append(
                    Problem(
                        "reordered",
                        f"record {record.sequence} is older than the record before it",
                        sequence=record.sequence,
                    )
                )
        previous = record

    head = session.get(AuditChainHead, HEAD_ID)
    if (
        until is None
        and head is not None
        and previous is not None
        and (head.sequence != previous.sequence or head.record_hash != previous.record_hash)
    ):
        report.problems.append(
            Problem(
                "truncated",
                f"the chain head is record {head.sequence} but the trail ends at "
                f"{previous.sequence}",
                sequence=previous.sequence,
            )
        )
    if (
        until is None
        and head is not None
        and previous is None
        and head.sequence > 0
        and since is None
    ):
        report.problems.append(Problem("truncated", "every record was deleted", sequence=1))

    _verify_digests(session, public_key, report, hashes, since, until, anchor)
    report.problems.sort(key=lambda p: (p.sequence is None, p.sequence or 0, p.digest_id or 0))
    return report


def _verify_digests(
    session: Session,
    public_key: Ed25519PublicKey,
    report: VerificationReport,
    hashes: dict[int, tuple[str, str]],
    since: datetime | None,
    until: datetime | None,
    anchor: dict[str, Any] | None,
) -> None:
    query = select(AuditDigest).order_by(AuditDigest.id)
    if since:
        query = query.where(AuditDigest.period_end > since)
    if until:
        query = query.where(AuditDigest.period_start < until)
    digests = list(session.execute(query).scalars())
    expected_fingerprint = fingerprint(public_key)
    previous: AuditDigest | None = None
    covered_to = 0
    for digest in digests:
        report.digests_checked += 1
        try:
            body = json.loads(digest.body)
        except ValueError:
            report.problems.append(
                Problem("digest_invalid", f"digest {digest.id} is not JSON", digest_id=digest.id)
            )
            continue
        if body.get("publicKeyFingerprint") != expected_fingerprint or not verify_signature(
            public_key, signed_string(body, digest.body), digest.signature
        ):
            report.problems.append(
                Problem(
                    "digest_signature",
                    f"digest {digest.id} fails signature verification with the trusted key",
                    digest_id=digest.id,
                )
            )
        if previous is not None:
            if digest.id != previous.id + 1 or digest.period_start != previous.period_end:
                report.problems.append(
                    Problem(
                        "digest_missing",
                        f"digests between {previous.id} and {digest.id} are missing",
                        digest_id=digest.id,
                    )
                )
            if body.get("previousDigestSignature") != previous.signature:
                report.problems.append(
                    Problem(
                        "digest_chain",
                        f"digest {digest.id} does not chain to digest {previous.id}",
                        digest_id=digest.id,
                    )
                )
        elif digest.id != 1 and since is None:
            report.problems.append(
                Problem(
                    "digest_missing", f"digests before {digest.id} are missing", digest_id=digest.id
                )
            )
        first, last = body.get("firstSequence"), body.get("lastSequence")
        if first is not None and last is not None:
            covered_to = max(covered_to, last)
            in_range = [hashes.get(seq) for seq in range(first, last + 1)]
            if all(value is not None for value in in_range):
                if hash_of_hashes([v[0] for v in in_range if v]) != body.get("recordsHash"):
                    report.problems.append(
                        Problem(
                            "sealed_record_changed",
                            f"records {first}..{last} no longer match digest {digest.id}",
                            digest_id=digest.id,
                        )
                    )
            elif since is None and until is None:
                report.problems.append(
                    Problem(
                        "sealed_record_missing",
                        f"records sealed by digest {digest.id} ({first}..{last}) are missing",
                        digest_id=digest.id,
                    )
                )
        previous = digest
    if since is None and until is None and report.last_sequence is not None:
        report.unsealed_records = max(0, report.last_sequence - covered_to)
    if anchor and until is None:
        newest = digests[-1] if digests else None
        anchored = session.get(AuditDigest, anchor.get("digestId"))
        if newest is None or newest.id < int(anchor.get("digestId", 0)):
            report.problems.append(
                Problem(
                    "digest_missing",
                    f"digest {anchor.get('digestId')} was written but is no longer in the database",
                    digest_id=anchor.get("digestId"),
                )
            )
        elif anchored is not None and anchored.signature != anchor.get("signature"):
            report.problems.append(
                Problem(
                    "digest_signature", f"digest {anchored.id} was replaced", digest_id=anchored.id
                )
            )


# --- listing and SQL ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordFilter:
    since: datetime | None = None
    until: datetime | None = None
    account_id: str | None = None
    principal: str | None = None
    action: str | None = None
    outcome: str | None = None  # success | denied | failed


def _filtered(query: Any, filters: RecordFilter, visible_account_ids: Sequence[str] | None) -> Any:
    if filters.since:
        query = query.where(AuditRecord.event_time >= filters.since)
    if filters.until:
        query = query.where(AuditRecord.event_time < filters.until)
    if filters.account_id:
        query = query.where(AuditRecord.account_id == filters.account_id)
    if filters.principal:
        query = query.where(
            (AuditRecord.principal_id == filters.principal)
            | (AuditRecord.principal_name == filters.principal)
        )
    if filters.action:
        column = AuditRecord.action if ":" in filters.action else AuditRecord.event_name
        query = query.where(column == filters.action)
    if filters.outcome == "success":
        query = query.where(AuditRecord.error_code.is_(None))
    elif filters.outcome == "denied":
        query = query.where(AuditRecord.error_code.in_(DENIED_CODES))
    elif filters.outcome == "failed":
        query = query.where(
            AuditRecord.error_code.is_not(None), AuditRecord.error_code.not_in(DENIED_CODES)
        )
    if visible_account_ids is not None:
        query = query.where(AuditRecord.account_id.in_(visible_account_ids))
    return query


def list_records(
    session: Session,
    filters: RecordFilter,
    visible_account_ids: Sequence[str] | None,
    page_size: int,
    after_sequence: int | None,
) -> Sequence[AuditRecord]:
    query = select(AuditRecord).order_by(AuditRecord.sequence).limit(page_size + 1)
    if after_sequence is not None:
        query = query.where(AuditRecord.sequence > after_sequence)
    return session.execute(_filtered(query, filters, visible_account_ids)).scalars().all()


QUERY_COLUMNS = (
    "sequence",
    "event_id",
    "event_time",
    "event_version",
    "event_source",
    "event_name",
    "action",
    "read_only",
    "principal_type",
    "principal_id",
    "principal_name",
    "principal_account_id",
    "access_key_id",
    "account_id",
    "source_ip",
    "user_agent",
    "http_method",
    "http_path",
    "http_status",
    "request_id",
    "request_parameters",
    "response_elements",
    "error_code",
    "error_message",
)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


def query_records(
    session: Session,
    sql: str,
    filters: RecordFilter,
    visible_account_ids: Sequence[str] | None,
    max_rows: int,
) -> QueryResult:
    """Run one read-only SQL statement over the records the caller may see, as ``audit_records``.

    The records are handed to an in-memory DuckDB as Arrow; DuckDB is then locked so the statement
    cannot read or write files, load extensions, or change settings.
    """
    import duckdb
    import pyarrow as pa

    columns = [getattr(AuditRecord, name) for name in QUERY_COLUMNS]
    rows = session.execute(_filtered(select(*columns), filters, visible_account_ids)).all()
    table = pa.table(
        {name: [row[i] for row in rows] for i, name in enumerate(QUERY_COLUMNS)},
        schema=_arrow_schema(pa),
    )
    connection = duckdb.connect(":memory:")
    try:
        connection.register("audit_records", table)
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
        statements = connection.extract_statements(sql)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise InvalidRequest(
                "send exactly one SELECT statement over the table audit_records",
                code=ErrorCode.INVALID_QUERY,
            )
        cursor = connection.execute(sql)
        names = [d[0] for d in cursor.description or []]
        fetched = cursor.fetchmany(max_rows + 1)
    except duckdb.Error as exc:
        raise InvalidRequest(f"the query failed: {exc}", code=ErrorCode.INVALID_QUERY) from exc
    finally:
        connection.close()
    return QueryResult(
        columns=names,
        rows=[[_plain(v) for v in row] for row in fetched[:max_rows]],
        truncated=len(fetched) > max_rows,
    )


def _arrow_schema(pa: Any) -> Any:
    types = {
        "sequence": pa.int64(),
        "event_time": pa.timestamp("us", tz="UTC"),
        "read_only": pa.bool_(),
        "http_status": pa.int32(),
    }
    return pa.schema([(name, types.get(name, pa.string())) for name in QUERY_COLUMNS])


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)
