"""Registry behaviour: versions and artifacts, approvals, aliases, promotion, grants, events."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from mlgov import (
    AccessDenied,
    Conflict,
    IntegrityError,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
)
from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit.context import Caller
from mlgov.server.kit.outbox import OutboxEvent
from mlgov.server.registry import schemas as registry_schemas
from mlgov.server.registry import service as registry_service
from mlgov.server.registry.repository import RegistryRepository
from mlgov.server.registry.tables import ModelVersion
from tests.server.conftest import Team

ARTIFACT = b"\x00weights\x01" * 1000
LINEAGE = {
    "datasets": [{"uri": "s3://data/train.parquet", "sha256": "a" * 64}],
    "code": {"repository": "git@example.com:fraud.git", "commit": "abc123"},
    "training_job": "job-42",
}


def register(client, account: str = "fraud-dev", group: str = "fraud", **fields):  # type: ignore[no-untyped-def]
    with contextlib.suppress(Conflict):
        client.registry.create_group(account, group)
    fields.setdefault("metrics", {"auc": 0.91})
    return client.registry.create_version(
        account, group, flavor="sklearn", artifact=ARTIFACT, **fields
    )


def events(app: FastAPI, detail_type: str | None = None) -> list[dict]:  # type: ignore[type-arg]
    with app.state.runtime.session_factory() as session:
        rows = session.execute(select(OutboxEvent).order_by(OutboxEvent.position)).scalars()
        bodies = [json.loads(row.body) for row in rows]
    return [b for b in bodies if detail_type is None or b["detail-type"] == detail_type]


def test_version_with_artifact_lineage_and_search(team: Team, tmp_path: Path) -> None:
    v1 = register(
        team.scientist,
        lineage=LINEAGE,
        tags={"stage": "candidate"},
        parameters={"max_depth": 6},
        signature={"inputs": [{"name": "amount", "type": "double"}]},
    )
    assert v1["version"] == 1 and v1["approval_status"] == "PendingManualApproval"
    assert v1["artifact"] == {"sha256": hashlib.sha256(ARTIFACT).hexdigest(), "size": len(ARTIFACT)}
    assert v1["lineage"]["code"]["commit"] == "abc123" and v1["lineage"]["training_job"] == "job-42"
    v2 = register(team.scientist, parent_version=1)
    assert v2["version"] == 2 and v2["parent_version_id"] == v1["id"]

    reg = team.scientist.registry
    assert [v["version"] for v in reg.search_versions("fraud-dev", tag="stage=candidate")] == [1]
    assert [v["version"] for v in reg.search_versions("fraud-dev", tag="stage")] == [1]
    assert [v["version"] for v in reg.search_versions("fraud-dev", group="fraud", page_size=1)] == [
        1,
        2,
    ]
    team.approver.registry.approve("fraud-dev", "fraud", 2)
    assert [v["version"] for v in reg.search_versions("fraud-dev", approval_status="Approved")] == [
        2
    ]
    reg.set_alias("fraud-dev", "fraud", "challenger", 2)
    assert [v["version"] for v in reg.search_versions("fraud-dev", alias="challenger")] == [2]

    downloaded = reg.download_artifact("fraud-dev", "fraud", 1, tmp_path / "model.bin")
    assert (tmp_path / "model.bin").read_bytes() == ARTIFACT and downloaded["size"] == len(ARTIFACT)
    with pytest.raises(NotFound) as missing:
        reg.create_version("fraud-dev", "fraud", flavor="onnx", artifact_sha256="f" * 64)
    assert missing.value.code == "ARTIFACT_NOT_FOUND"
    with pytest.raises(NotFound):
        register(team.scientist, parent_version=99)


def pages(http: TestClient, token: str, **params: Any) -> list[list[int]]:
    """Walk ``GET /model-versions`` by its tokens; the version numbers of each page."""
    found: list[list[int]] = []
    query: dict[str, Any] = dict(params)
    for _ in range(50):
        answer = http.get(
            "/api/v1/accounts/fraud-dev/model-versions",
            params=query,
            headers={"authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text
        found.append([v["version"] for v in answer.json()["items"]])
        if not answer.json()["next_page_token"]:
            return found
        query["next_page_token"] = answer.json()["next_page_token"]
    raise AssertionError("pagination did not end")


def test_describe_answers_as_registration_and_a_listing_and_names_what_is_missing(
    team: Team,
) -> None:
    created = register(
        team.scientist, lineage=LINEAGE, tags={"stage": "candidate"}, parameters={"depth": 6}
    )
    reg = team.scientist.registry
    described = reg.get_version("fraud-dev", "fraud", 1)
    assert described == created  # a plain row answers as the registration's ORM object did
    assert [described] == list(reg.list_versions("fraud-dev", "fraud"))
    reg.set_alias("fraud-dev", "fraud", "champion", 1)
    assert reg.get_version("fraud-dev", "fraud", 1)["aliases"] == ["champion"]
    with pytest.raises(NotFound) as no_version:
        reg.get_version("fraud-dev", "fraud", 2)
    assert no_version.value.code == "MODEL_VERSION_NOT_FOUND"
    with pytest.raises(NotFound) as no_group:
        reg.get_version("fraud-dev", "fraud-nope", 1)
    assert no_group.value.code == "MODEL_GROUP_NOT_FOUND"


def test_a_metric_that_is_not_a_json_number_is_refused_before_it_is_stored(
    team: Team, http: TestClient, admin_token: str
) -> None:
    team.scientist.registry.create_group("fraud-dev", "fraud")
    sha = team.scientist.registry.upload_artifact("fraud-dev", ARTIFACT)["sha256"]
    body = f'{{"flavor": "sklearn", "artifact_sha256": "{sha}", "metrics": {{"auc": NaN}}}}'
    answer = http.post(
        "/api/v1/accounts/fraud-dev/model-groups/fraud/versions",
        content=body.encode(),
        headers={"authorization": f"Bearer {admin_token}", "content-type": "application/json"},
    )
    assert answer.status_code == 400, answer.text  # was a 500 on PostgreSQL, NaN text on SQLite
    assert answer.json()["error"]["code"] == "MALFORMED_REQUEST_BODY"
    assert list(team.scientist.registry.list_versions("fraud-dev", "fraud")) == []


def test_tag_filter_finds_matches_beyond_the_first_page(
    team: Team, http: TestClient, admin_token: str
) -> None:
    tags: dict[int, dict[str, str]] = {
        1: {},
        2: {"stage": "candidate"},
        3: {"stage": "dev"},
        4: {"stage": "candidate"},
        5: {"release": "yes"},
        6: {"stage": "candidate", 'we"ird.key': "a=b"},
    }
    for number in range(1, 7):
        assert register(team.scientist, tags=tags[number])["version"] == number
    reg = team.scientist.registry

    # The only match is outside the first page of the unfiltered listing.
    assert [v["version"] for v in reg.search_versions("fraud-dev", tag="release", page_size=2)] == [
        5
    ]
    assert pages(http, admin_token, tag="release", page_size=2) == [[5]]
    assert pages(http, admin_token, tag="release=yes", page_size=2) == [[5]]
    assert pages(http, admin_token, tag="release=no", page_size=2) == [[]]
    # Every page is full until the last, and the last issues no token.
    assert pages(http, admin_token, tag="stage=candidate", page_size=1) == [[2], [4], [6]]
    assert pages(http, admin_token, tag="stage", page_size=2) == [[2, 3], [4, 6]]
    assert pages(http, admin_token, tag="stage", page_size=3) == [[2, 3, 4], [6]]
    # Keys are matched literally (quotes, dots) and the value is split at the first '='.
    assert pages(http, admin_token, tag='we"ird.key=a=b', page_size=1) == [[6]]
    assert pages(http, admin_token, tag="we", page_size=1) == [[]]
    # With the other filters.
    team.approver.registry.approve("fraud-dev", "fraud", 4)
    assert pages(
        http, admin_token, tag="stage=candidate", approval_status="Approved", page_size=1
    ) == [[4]]
    assert pages(http, admin_token, tag="stage", group="fraud", page_size=4) == [[2, 3, 4, 6]]


def test_created_range_filter(app: FastAPI, team: Team, http: TestClient, admin_token: str) -> None:
    moments = {
        1: datetime(2026, 1, 1, tzinfo=UTC),
        2: datetime(2026, 2, 1, tzinfo=UTC),
        3: datetime(2026, 3, 1, tzinfo=UTC),
        4: datetime(2026, 4, 1, tzinfo=UTC),
    }
    for number in moments:
        register(team.scientist, tags={"stage": "candidate"} if number % 2 == 0 else {})
    with app.state.runtime.session_factory() as session:
        for row in session.execute(select(ModelVersion)).scalars():
            row.created_at = moments[row.version]
        session.commit()
    reg = team.scientist.registry

    def between(after: datetime | None, before: datetime | None, **more: Any) -> list[int]:
        found = reg.search_versions(
            "fraud-dev", created_after=after, created_before=before, page_size=1, **more
        )
        return [v["version"] for v in found]

    # created_after is inclusive, created_before exclusive: ranges tile without overlap.
    assert between(moments[2], None) == [2, 3, 4]
    assert between(None, moments[3]) == [1, 2]
    assert between(moments[2], moments[4]) == [2, 3]
    assert between(datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 2, 15, tzinfo=UTC)) == [2]
    assert between(moments[4], moments[1]) == []
    assert between(datetime(2027, 1, 1, tzinfo=UTC), None) == []
    assert between(moments[2], None, tag="stage") == [2, 4]
    # Another offset names the same instant.
    assert pages(http, admin_token, created_after="2026-02-01T01:00:00+01:00", page_size=2) == [
        [2, 3],
        [4],
    ]
    # A time without an offset is ambiguous and refused.
    naive = http.get(
        "/api/v1/accounts/fraud-dev/model-versions",
        params={"created_after": "2026-02-01T00:00:00"},
        headers={"authorization": f"Bearer {admin_token}"},
    )
    assert naive.status_code == 422 and naive.json()["error"]["code"] == "INVALID_REQUEST"


def test_idempotency_key_replays_a_registration(
    app: FastAPI, team: Team, http: TestClient, admin_token: str
) -> None:
    team.scientist.registry.create_group("fraud-dev", "fraud")
    sha = team.scientist.registry.upload_artifact("fraud-dev", ARTIFACT)["sha256"]
    url = "/api/v1/accounts/fraud-dev/model-groups/fraud/versions"
    headers = {"authorization": f"Bearer {admin_token}", "idempotency-key": "register-1"}
    body = {"flavor": "sklearn", "artifact_sha256": sha, "metrics": {"auc": 0.9}}
    first = http.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.text
    replay = http.post(url, json=body, headers=headers)
    assert replay.status_code == 201 and replay.json() == first.json()
    reused = http.post(url, json={**body, "metrics": {"auc": 0.8}}, headers=headers)
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    # One version and one event: the replay did not register again.
    assert [v["version"] for v in team.scientist.registry.search_versions("fraud-dev")] == [1]
    assert len(events(app, "Model Version State Change")) == 1
    # A new key is a new request.
    again = http.post(url, json=body, headers={**headers, "idempotency-key": "register-2"})
    assert again.status_code == 201 and again.json()["version"] == 2


def _chunked(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_idempotency_key_on_a_streamed_upload_compares_the_bytes(
    app: FastAPI, team: Team, http: TestClient, admin_token: str
) -> None:
    url = "/api/v1/accounts/fraud-dev/artifacts"
    headers = {
        "authorization": f"Bearer {admin_token}",
        "content-type": "application/octet-stream",
        "idempotency-key": "upload-1",
    }
    first = http.post(url, content=_chunked(ARTIFACT), headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["sha256"] == hashlib.sha256(ARTIFACT).hexdigest()
    replay = http.post(url, content=_chunked(ARTIFACT, 777), headers=headers)
    assert replay.status_code == 201 and replay.json() == first.json()

    other = b"other weights" * 500
    reused = http.post(url, content=_chunked(other), headers=headers)
    assert reused.status_code == 409, reused.text
    assert reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    # The refused upload never reached the endpoint: its bytes were not stored.
    assert not app.state.runtime.blobs.exists(hashlib.sha256(other).hexdigest())
    # Neither does a prefix of the first bytes, nor the same bytes to another route, pass.
    prefix = http.post(url, content=ARTIFACT[:-1], headers=headers)
    assert prefix.status_code == 409
    elsewhere = http.post(
        "/api/v1/accounts/fraud-prod/artifacts", content=ARTIFACT, headers=headers
    )
    assert elsewhere.status_code == 409

    fresh = http.post(url, content=other, headers={**headers, "idempotency-key": "upload-2"})
    assert fresh.status_code == 201 and fresh.json()["sha256"] == hashlib.sha256(other).hexdigest()
    assert (
        http.post(url, content=other, headers={**headers, "idempotency-key": "upload-2"}).json()
        == fresh.json()
    )
    # A failed first use stores nothing: the key stays free for a corrected retry.
    empty = http.post(url, content=b"", headers={**headers, "idempotency-key": "upload-3"})
    assert empty.status_code == 422
    retried = http.post(url, content=other, headers={**headers, "idempotency-key": "upload-3"})
    assert retried.status_code == 201


def test_corrupted_artifact_is_detected_on_download(
    app: FastAPI, team: Team, tmp_path: Path
) -> None:
    version = register(team.scientist)
    blobs = app.state.runtime.blobs
    Path(blobs.path_of(version["artifact"]["sha256"])).write_bytes(b"tampered" + ARTIFACT[8:])
    with pytest.raises(IntegrityError):
        team.scientist.registry.download_artifact("fraud-dev", "fraud", 1, tmp_path / "m.bin")
    assert not (tmp_path / "m.bin").exists()


def test_artifacts_are_private_to_their_account(team: Team) -> None:
    sha = team.scientist.registry.upload_artifact("fraud-dev", ARTIFACT)["sha256"]
    team.outsider.registry.create_group("other-dev", "mine")
    with pytest.raises(NotFound):  # knowing the hash is not enough
        team.outsider.registry.create_version(
            "other-dev", "mine", flavor="sklearn", artifact_sha256=sha
        )


def test_approval_permissions_and_history(team: Team, app: FastAPI) -> None:
    register(team.scientist)
    with pytest.raises(AccessDenied):
        team.scientist.registry.approve("fraud-dev", "fraud", 1)
    with pytest.raises(AccessDenied):
        team.engineer.registry.approve("fraud-dev", "fraud", 1)
    team.approver.registry.approve("fraud-dev", "fraud", 1, comment="looks good")
    with pytest.raises(Conflict):
        team.approver.registry.approve("fraud-dev", "fraud", 1)
    team.approver.registry.reject("fraud-dev", "fraud", 1, comment="drift found")
    history = team.scientist.registry.approvals("fraud-dev", "fraud", 1)
    assert [
        (h["previous_status"], h["status"], h["reviewer_name"], h["comment"]) for h in history
    ] == [
        ("PendingManualApproval", "Approved", "approver", "looks good"),
        ("Approved", "Rejected", "approver", "drift found"),
    ]
    changes = [
        e["detail"]["ModelApprovalStatus"] for e in events(app, "Model Version State Change")
    ]
    assert changes == ["PendingManualApproval", "Approved", "Rejected"]


def test_four_eyes_and_its_setting(team: Team) -> None:
    register(team.admin)
    with pytest.raises(AccessDenied) as own:
        team.admin.registry.approve("fraud-dev", "fraud", 1)
    assert own.value.code == "SELF_APPROVAL_FORBIDDEN"
    with pytest.raises(AccessDenied):  # account governance is not the scientist's to change
        team.scientist.registry.update_settings("fraud-dev", four_eyes=False)
    team.admin.registry.update_settings("fraud-dev", four_eyes=False)
    assert team.admin.registry.approve("fraud-dev", "fraud", 1)["status"] == "Approved"


def test_concurrent_decisions_have_one_winner(app: FastAPI, team: Team, admin_token: str) -> None:
    register(team.scientist)
    team.admin.registry.update_settings("fraud-dev", four_eyes=False)
    headers = {"authorization": f"Bearer {admin_token}"}
    path = "/api/v1/accounts/fraud-dev/model-groups/fraud/versions/1"

    def decide(n: int) -> int:
        http = TestClient(app, raise_server_exceptions=False)
        verb = "approve" if n % 2 else "reject"
        return http.post(
            f"{path}/{verb}", json={"if_status": "PendingManualApproval"}, headers=headers
        ).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(decide, range(6)))
    assert statuses == [200, 409, 409, 409, 409, 409]
    history = team.admin.registry.approvals("fraud-dev", "fraud", 1)
    assert len(history) == 1
    final = team.admin.registry.get_version("fraud-dev", "fraud", 1)["approval_status"]
    assert final == history[0]["status"]


def test_concurrent_registrations_are_numbered_one_after_another(
    app: FastAPI, team: Team, admin_token: str
) -> None:
    register(team.scientist)  # the group, and the artifact uploaded once
    sha = team.scientist.registry.get_version("fraud-dev", "fraud", 1)["artifact"]["sha256"]
    headers = {"authorization": f"Bearer {admin_token}"}
    path = "/api/v1/accounts/fraud-dev/model-groups/fraud/versions"

    def create(n: int) -> tuple[int, int]:
        http = TestClient(app, raise_server_exceptions=False)
        body = {"artifact_sha256": sha, "flavor": "sklearn", "tags": {"n": str(n)}}
        answer = http.post(path, json=body, headers=headers)
        return answer.status_code, answer.json().get("version", 0)

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(create, range(12)))
    assert {status for status, _ in answers} == {201}, answers
    assert sorted(number for _, number in answers) == list(range(2, 14))
    group = team.scientist.registry.get_group("fraud-dev", "fraud")
    assert group["latest_version"] == 13
    changes = events(app, "Model Version State Change")
    assert sorted(e["detail"]["ModelPackageVersion"] for e in changes) == list(range(1, 14))


def test_a_refused_registration_takes_no_number(team: Team) -> None:
    registry = team.scientist.registry
    sha = register(team.scientist)["artifact"]["sha256"]
    with pytest.raises(NotFound) as missing:
        registry.create_version("fraud-dev", "fraud", flavor="sklearn", artifact_sha256="0" * 64)
    assert missing.value.code == "ARTIFACT_NOT_FOUND"
    with pytest.raises(NotFound) as no_parent:
        registry.create_version(
            "fraud-dev", "fraud", flavor="sklearn", artifact_sha256=sha, parent_version=7
        )
    assert no_parent.value.code == "MODEL_VERSION_NOT_FOUND"
    with pytest.raises(NotFound) as no_group:
        registry.create_version("fraud-dev", "nope", flavor="sklearn", artifact_sha256=sha)
    assert no_group.value.code == "MODEL_GROUP_NOT_FOUND"
    assert team.scientist.registry.get_group("fraud-dev", "fraud")["latest_version"] == 1
    assert register(team.scientist)["version"] == 2


def test_a_group_loaded_in_the_session_sees_the_number_a_registration_took(
    app: FastAPI, team: Team
) -> None:
    # A promotion reads its target group before it registers the copy; the number is taken by a
    # statement of its own, which must not leave the loaded group behind.
    register(team.scientist)
    sha = team.scientist.registry.get_version("fraud-dev", "fraud", 1)["artifact"]["sha256"]
    account = team.admin.identity.get_account("fraud-dev")["id"]
    caller = Caller("p", "scientist", "user", account, "key")
    with unit_of_work(app.state.runtime.session_factory) as session:
        group = RegistryRepository(session).group(account, "fraud")
        assert group is not None and group.latest_version == 1
        data = registry_schemas.ModelVersionCreate(artifact_sha256=sha, flavor="sklearn")
        created = registry_service.create_version(session, account, "fraud", caller, data)
        assert created.version == 2
        assert group.latest_version == 2


def test_aliases_move_and_protection(team: Team, app: FastAPI) -> None:
    register(team.scientist)
    register(team.scientist)
    reg = team.scientist.registry
    reg.set_alias("fraud-dev", "fraud", "champion", 1)
    reg.set_alias("fraud-dev", "fraud", "champion", 2)
    assert [(a["name"], a["version"]) for a in reg.aliases("fraud-dev", "fraud")] == [
        ("champion", 2)
    ]
    assert reg.get_version("fraud-dev", "fraud", 2)["aliases"] == ["champion"]
    moves = [
        (e["detail"]["PreviousModelPackageVersion"], e["detail"]["ModelPackageVersion"])
        for e in events(app, "Model Alias Change")
    ]
    assert moves == [(None, 1), (1, 2)]

    team.admin.registry.update_settings("fraud-dev", protected_aliases={"champion": ["Approver"]})
    with pytest.raises(AccessDenied) as protected:
        reg.set_alias("fraud-dev", "fraud", "champion", 1)
    assert protected.value.code == "ALIAS_PROTECTED"
    reg.set_alias("fraud-dev", "fraud", "challenger", 1)  # unprotected aliases stay free
    with pytest.raises(InvalidRequest):
        reg.set_alias("fraud-dev", "fraud", "9lives", 1)
    with pytest.raises(AccessDenied):  # DataScientist may move, not delete
        reg.delete_alias("fraud-dev", "fraud", "challenger")
    team.admin.registry.delete_alias("fraud-dev", "fraud", "challenger")
    with pytest.raises(NotFound):
        team.admin.registry.delete_alias("fraud-dev", "fraud", "challenger")


def test_promotion_reuses_the_artifact_and_records_lineage(app: FastAPI, team: Team) -> None:
    source = register(team.scientist, lineage=LINEAGE)
    with pytest.raises(PreconditionFailed):
        team.engineer.registry.promote("fraud-dev", "fraud", 1, "fraud-prod")
    team.approver.registry.approve("fraud-dev", "fraud", 1)
    blobs_before = sorted(
        p.name for p in Path(app.state.runtime.settings.blob_url).rglob("*") if p.is_file()
    )
    copy = team.engineer.registry.promote(
        "fraud-dev", "fraud", 1, "fraud-prod", comment="release 7"
    )
    blobs_after = sorted(
        p.name for p in Path(app.state.runtime.settings.blob_url).rglob("*") if p.is_file()
    )
    assert blobs_after == blobs_before  # reused by hash, not copied
    assert copy["account_id"] != source["account_id"] and copy["version"] == 1
    assert copy["artifact"] == source["artifact"]
    assert copy["approval_status"] == "PendingManualApproval"
    assert copy["promoted_from"]["version_id"] == source["id"]
    assert copy["promoted_from"]["account"] == "fraud-dev" and copy["lineage"] == source["lineage"]
    with pytest.raises(Conflict):
        team.engineer.registry.promote("fraud-dev", "fraud", 1, "fraud-prod")
    with pytest.raises(AccessDenied):  # no rights on the target
        team.engineer.registry.promote("fraud-dev", "fraud", 1, "other-dev")
    with pytest.raises(AccessDenied):  # unknown targets look the same as forbidden ones
        team.engineer.registry.promote("fraud-dev", "fraud", 1, "nowhere")
    promoted = [
        e["detail"]["change"]
        for e in events(app, "Model Version State Change")
        if e["detail"]["change"] == "Promoted"
    ]
    assert promoted == ["Promoted"]


def test_refused_promotion_names_each_unmet_condition(team: Team) -> None:
    register(team.scientist, metrics={"auc": 0.71})
    team.approver.registry.approve("fraud-dev", "fraud", 1)
    team.admin.registry.update_settings(
        "fraud-prod",
        promotion_requirements={
            "require_approved_card": True,
            "metrics": [
                {"metric": "auc", "comparison": "GreaterThanOrEqualToThreshold", "threshold": 0.8},
                {"metric": "recall", "comparison": "GreaterThanThreshold", "threshold": 0.5},
            ],
        },
    )
    with pytest.raises(PreconditionFailed) as refused:
        team.engineer.registry.promote("fraud-dev", "fraud", 1, "fraud-prod")
    failed = refused.value.details["failed"]
    assert refused.value.code == "PROMOTION_REFUSED"
    assert [f["condition"] for f in failed] == ["approved_model_card", "metric", "metric"]
    assert "auc is 0.71" in refused.value.message and "recall is missing" in refused.value.message

    team.admin.registry.update_settings(
        "fraud-prod", promotion_requirements={"require_approved_card": True}
    )
    team.scientist.registry.write_card(
        "fraud-dev", "fraud", 1, {"intended_uses": {"risk_rating": "Low"}}
    )
    team.approver.registry.set_card_status("fraud-dev", "fraud", 1, "Approved")
    assert team.engineer.registry.promote("fraud-dev", "fraud", 1, "fraud-prod")["version"] == 1


def test_grants_share_groups_across_accounts(team: Team, tmp_path: Path) -> None:
    register(team.scientist)
    reg = team.outsider.registry
    with pytest.raises(AccessDenied):
        reg.get_version("fraud-dev", "fraud", 1)
    with pytest.raises(AccessDenied):  # only the owning account manages its grants
        reg.grant("fraud-dev", "fraud", "other-dev", ["read"])
    team.admin.registry.grant("fraud-dev", "fraud", "other-dev", ["read"])
    assert reg.get_version("fraud-dev", "fraud", 1)["version"] == 1
    reg.download_artifact("fraud-dev", "fraud", 1, tmp_path / "shared.bin")
    assert [s["group"]["name"] for s in reg.shared_groups("other-dev")] == ["fraud"]
    with pytest.raises(AccessDenied):  # read is not write
        reg.update_version("fraud-dev", "fraud", 1, description="mine now")
    with pytest.raises(AccessDenied):  # a share of one group is not a share of the account
        list(reg.list_groups("fraud-dev"))
    team.admin.registry.revoke_grant("fraud-dev", "fraud", "other-dev")
    with pytest.raises(AccessDenied):
        reg.get_version("fraud-dev", "fraud", 1)


def test_publish_grant_lets_another_account_promote_in(team: Team, app: FastAPI) -> None:
    register(team.outsider, account="other-dev", group="shared-model")
    team.admin.registry.update_settings("other-dev", four_eyes=False)
    team.admin.registry.approve("other-dev", "shared-model", 1)
    team.admin.identity.bind_role("outsider", "MLEngineer", account="other-dev")
    with pytest.raises(AccessDenied):
        team.outsider.registry.promote(
            "other-dev", "shared-model", 1, "fraud-prod", target_group="central"
        )
    team.admin.registry.create_group("fraud-prod", "central")
    team.admin.registry.grant("fraud-prod", "central", "other-dev", ["publish"])
    copy = team.outsider.registry.promote(
        "other-dev", "shared-model", 1, "fraud-prod", target_group="central"
    )
    assert copy["group"] == "central" and copy["promoted_from"]["account"] == "other-dev"


def test_failed_calls_emit_no_events(team: Team, app: FastAPI) -> None:
    register(team.scientist)
    before = len(events(app))
    with pytest.raises(AccessDenied):
        team.scientist.registry.approve("fraud-dev", "fraud", 1)
    with pytest.raises(PreconditionFailed):
        team.engineer.registry.promote("fraud-dev", "fraud", 1, "fraud-prod")
    assert len(events(app)) == before


def test_listings_show_each_versions_aliases(team: Team) -> None:
    for _ in range(3):
        register(team.scientist)
    register(team.scientist, group="churn")
    reg = team.scientist.registry
    reg.set_alias("fraud-dev", "fraud", "champion", 2)
    reg.set_alias("fraud-dev", "fraud", "challenger", 2)
    reg.set_alias("fraud-dev", "fraud", "shadow", 3)
    reg.set_alias("fraud-dev", "churn", "champion", 1)

    in_group = {v["version"]: v["aliases"] for v in reg.list_versions("fraud-dev", "fraud")}
    assert in_group == {1: [], 2: ["challenger", "champion"], 3: ["shadow"]}
    # Versions of several groups: each keeps its own group's aliases.
    across = {(v["group"], v["version"]): v["aliases"] for v in reg.search_versions("fraud-dev")}
    assert across == {
        ("fraud", 1): [],
        ("fraud", 2): ["challenger", "champion"],
        ("fraud", 3): ["shadow"],
        ("churn", 1): ["champion"],
    }
