"""Authorization's per-process cache: it never outlives a change to the identity tables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select

from mlgov import AccessDenied, Unauthenticated
from mlgov.server.app import create_app
from mlgov.server.db.engine import unit_of_work
from mlgov.server.identity import cache, schemas, service
from mlgov.server.identity.tables import IdentityGeneration
from mlgov.server.kit.context import Caller
from mlgov.settings import Settings
from tests.conftest import client_for


@pytest.fixture
def other_server(settings: Settings) -> Iterator[FastAPI]:
    """A second server process's app on the same database: its own engine, its own cache."""
    application = create_app(settings, run_workers=False)
    yield application
    application.state.runtime.close()


def generation(app: FastAPI) -> int | None:
    with unit_of_work(app.state.runtime.session_factory) as session:
        return session.execute(select(IdentityGeneration.generation)).scalar_one_or_none()


def test_changes_made_through_another_server_apply_on_the_next_call(
    app: FastAPI,
    admin,
    other_server: FastAPI,  # type: ignore[no-untyped-def]
) -> None:
    admin.identity.create_account("team-a", "dev")
    admin.identity.create_principal("ds")
    binding = admin.identity.bind_role("ds", "Viewer", account="team-a")
    token = admin.identity.create_key("ds")["secret"]
    elsewhere = client_for(other_server, token)
    for _ in range(2):  # the second call is answered from the other server's cache
        assert elsewhere.identity.get_account("team-a")["name"] == "team-a"

    admin.identity.unbind_role(binding["id"], account="team-a")
    with pytest.raises(AccessDenied):
        elsewhere.identity.get_account("team-a")

    admin.identity.bind_role("ds", "Viewer", account="team-a")
    assert elsewhere.identity.get_account("team-a")["name"] == "team-a"
    key_id = elsewhere.identity.whoami()["api_key_id"]
    admin.identity.revoke_key(key_id, principal="ds")
    with pytest.raises(Unauthenticated, match="revoked"):
        elsewhere.identity.whoami()


def test_only_identity_writes_move_the_generation(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    admin.identity.create_account("team-a", "dev")
    before = generation(app)
    assert before is not None
    admin.registry.create_group("team-a", "churn")
    assert generation(app) == before
    admin.identity.create_principal("ds")
    assert generation(app) == before + 1


def test_unknown_key_ids_do_not_grow_the_cache(
    app: FastAPI,
    admin,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 5)
    for n in range(12):
        with pytest.raises(Unauthenticated):
            client_for(app, f"mlgov_key-probe{n}.secret").identity.whoami()
    with unit_of_work(app.state.runtime.session_factory) as session:
        snapshot = cache.snapshot(session)
        assert 0 < len(snapshot.keys) <= 5
    assert admin.identity.whoami()["principal_name"] == "admin"


def test_without_the_counter_row_nothing_is_kept(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(app.state.runtime.session_factory) as session:
        session.execute(delete(IdentityGeneration))
    admin.identity.create_principal("ds")
    token = admin.identity.create_key("ds")
    ds = client_for(app, token["secret"])
    assert ds.identity.whoami()["principal_name"] == "ds"
    admin.identity.revoke_key(token["id"], principal="ds")
    with pytest.raises(Unauthenticated, match="revoked"):
        ds.identity.whoami()
    with unit_of_work(app.state.runtime.session_factory) as session:
        assert cache.snapshot(session).keys == {}


def test_a_transaction_that_writes_identity_keeps_what_it_reads_to_itself(
    app: FastAPI,
    admin,  # type: ignore[no-untyped-def]
) -> None:
    admin.identity.create_account("team-a", "dev")
    admin.identity.create_principal("ds")
    factory = app.state.runtime.session_factory
    action = "registry:ListModelGroups"
    with unit_of_work(factory) as session:
        principal = service.get_principal(session, "ds")
        account_id = service.get_account(session, "team-a").id
    caller = Caller(principal.id, principal.name, principal.type, None, "key-x")

    session = factory()
    try:
        assert not service.may(session, caller, action, account_id)
        account = service.get_account(session, "team-a")
        binding = schemas.RoleBindingCreate(principal="ds", role="Viewer")
        service.create_binding(session, binding, account=account)
        assert service.may(session, caller, action, account_id)  # its own write, at once
        session.rollback()
    finally:
        session.close()

    # Another identity write commits: the counter reaches the number the rolled-back
    # transaction saw, and the binding that never committed must not come back with it.
    admin.identity.create_principal("someone-else")
    with unit_of_work(factory) as session:
        assert not service.may(session, caller, action, account_id)
    with pytest.raises(AccessDenied):
        client_for(app, admin.identity.create_key("ds")["secret"]).identity.get_account("team-a")
