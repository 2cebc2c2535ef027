"""`mlgov endpoints serve`: one endpoint in its own process, following updates of the endpoint."""

from __future__ import annotations

import pickle
from pathlib import Path

import httpx
import pytest
from sklearn.dummy import DummyRegressor

from mlgov import Client
from mlgov.settings import Settings
from tests.server.serving.conftest import start, stop


def _constant(value: float) -> bytes:
    return pickle.dumps(DummyRegressor(strategy="constant", constant=value).fit([[0.0]], [value]))


def test_a_serving_process_answers_for_its_endpoint(
    admin: Client, admin_token: str, settings: Settings, tmp_path: Path
) -> None:
    admin.identity.create_account("fraud-dev", "dev")
    admin.registry.create_group("fraud-dev", "m")
    for value in (1.0, 2.0):
        admin.registry.create_version("fraud-dev", "m", flavor="sklearn", artifact=_constant(value))
    admin.serving.create_endpoint("fraud-dev", "e", [{"group": "m", "version": 1}])

    process, url = start(["endpoints", "serve", "e", "-a", "fraud-dev"], settings, tmp_path)
    try:
        assert httpx.get(f"{url}/ping").status_code == 200
        auth = {"authorization": f"Bearer {admin_token}"}
        answer = httpx.post(
            f"{url}/invocations", content="0", headers={**auth, "content-type": "text/csv"}
        )
        assert answer.status_code == 200 and answer.text.strip() == "1.0"
        assert httpx.post(f"{url}/invocations", content="0").status_code == 401
        # An update made through the main server reaches the replica on its next call.
        admin.serving.update_endpoint("fraud-dev", "e", variants=[{"group": "m", "version": 2}])
        with Client(url, api_key=admin_token) as replica:
            assert replica.serving.invoke("fraud-dev", "e", [[0.0]])["predictions"] == [2.0]
    finally:
        stop(process)


def test_serving_a_missing_endpoint_refuses_to_start(
    settings: Settings, tmp_path: Path, admin: Client
) -> None:
    admin.identity.create_account("fraud-dev", "dev")
    with pytest.raises(AssertionError, match="ENDPOINT_NOT_FOUND"):
        start(["endpoints", "serve", "nope", "-a", "fraud-dev"], settings, tmp_path)
