"""Fixtures for the server suites: a team of principals with different roles in three accounts."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from mlgov import Client
from tests.conftest import client_for


@dataclass
class Team:
    admin: Client
    scientist: Client  # DataScientist on fraud-dev
    approver: Client  # Approver on fraud-dev and fraud-prod
    engineer: Client  # MLEngineer on fraud-dev and fraud-prod
    outsider: Client  # DataScientist on other-dev only


@pytest.fixture
def team(app: FastAPI, admin: Client) -> Team:
    for name, environment in (("fraud-dev", "dev"), ("fraud-prod", "prod"), ("other-dev", "dev")):
        admin.identity.create_account(name, environment)
    bindings = {
        "scientist": [("DataScientist", "fraud-dev")],
        "approver": [("Approver", "fraud-dev"), ("Approver", "fraud-prod")],
        "engineer": [("MLEngineer", "fraud-dev"), ("MLEngineer", "fraud-prod")],
        "outsider": [("DataScientist", "other-dev")],
    }
    clients = {}
    for principal, roles in bindings.items():
        admin.identity.create_principal(principal)
        for role, account in roles:
            admin.identity.bind_role(principal, role, account=account)
        clients[principal] = client_for(app, admin.identity.create_key(principal)["secret"])
    return Team(admin=admin, **clients)
