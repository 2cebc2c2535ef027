"""Tenant isolation: a key bound only to account A can never read or change account B.

Generated from the route table: every account-scoped route is called for B with A's key (expect
403 and nothing of B in the answer, and B unchanged), and for A (expect no denial), so the matrix
fails if a route forgets its scope as surely as if authorization broke.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.server.routes import api_routes, build_world, method_of


def test_account_scoped_routes_isolate_accounts(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    world = build_world(admin)
    admin.identity.create_principal("team-a-admin")
    # The strongest grant an account can hold: every action, on account A only.
    admin.identity.bind_role("team-a-admin", "OrgAdmin", account=world.account)
    key = admin.identity.create_key("team-a-admin")["secret"]
    headers = {"authorization": f"Bearer {key}"}
    http = TestClient(app, raise_server_exceptions=False)
    other = admin.identity.get_account(world.other_account)
    bindings_before = list(admin.identity.list_bindings(account=world.other_account))

    scoped = [r for r in api_routes(app) if "{account}" in r.full_path]  # type: ignore[attr-defined]
    assert len(scoped) >= 5
    for route in scoped:
        for ref in (world.other_account, other["id"]):
            path = world.path_for(route, account=ref)
            response = http.request(
                method_of(route), path, json=world.body_for(route), headers=headers
            )
            assert response.status_code in (403, 404), (route.path, response.status_code)
            assert other[
                "id"
            ] not in response.text and world.other_account not in response.text.replace(
                f"account {world.other_account}", ""
            )
        path = world.path_for(route, account=world.account)
        allowed = http.request(method_of(route), path, json=world.body_for(route), headers=headers)
        assert allowed.status_code < 400, (route.path, allowed.text)

    assert admin.identity.get_account(world.other_account) == other
    after = list(admin.identity.list_bindings(account=world.other_account))
    assert all(binding in after for binding in bindings_before)  # nothing of B was deleted
    holders = {
        admin.identity.get_principal(b["principal_id"])["name"]
        for b in after
        if b not in bindings_before
    }
    assert all(name.startswith("holder-") for name in holders)  # only the admin's own set-up added


def test_listings_show_only_what_the_key_may_see(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import client_for

    world = build_world(admin)
    admin.identity.create_org_unit("research")
    admin.identity.create_account("lab", "dev", org_unit="research")
    admin.identity.create_principal("ou-viewer")
    admin.identity.bind_role("ou-viewer", "Viewer", org_unit="workloads")
    viewer = client_for(app, admin.identity.create_key("ou-viewer")["secret"])
    names = sorted(a["name"] for a in viewer.identity.list_accounts())
    assert names == sorted(
        [world.account, world.other_account]
    )  # the OU grant reaches both, not "lab"
    assert [o["name"] for o in viewer.identity.list_org_units()] == ["workloads"]
    assert viewer.identity.get_account(world.account)["name"] == world.account
    import pytest

    from mlgov import AccessDenied

    with pytest.raises(AccessDenied):
        viewer.identity.get_account("lab")
    with pytest.raises(AccessDenied):
        list(viewer.audit.records())
