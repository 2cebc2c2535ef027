"""Built-in roles: each a set of ``service:Verb`` patterns allowed, minus patterns denied.

A role binding grants its role on one scope (an account, or an org unit and every account below
it). Patterns use shell wildcards matched case-sensitively (``registry:*``, ``*:Describe*``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

READ_PATTERNS = (
    "*:Describe*",
    "*:List*",
    "*:Get*",
    "*:Search*",
    "*:Export*",
    "*:Download*",
)
APPROVAL_ACTIONS = (
    "registry:ApproveModelVersion",
    "registry:RejectModelVersion",
    "registry:UpdateModelVersionApproval",
    "registry:UpdateModelCardStatus",
)
# Governance settings of an account's registry are its admins' to change, not its builders'.
REGISTRY_ADMIN_ACTIONS = ("registry:UpdateRegistrySettings",)
# Opening an account's bus to other accounts is a trust decision for its admins.
EVENTS_ADMIN_ACTIONS = ("events:PutEventBusPermission", "events:DeleteEventBusPermission")
ORGANIZATION_ADMIN_ACTIONS = (
    "identity:CreateOrgUnit",
    "identity:UpdateOrgUnit",
    "identity:DeleteOrgUnit",
    "identity:CreateAccount",
    "identity:UpdateAccount",
    "identity:CreatePrincipal",
    "identity:UpdatePrincipal",
    "audit:SealDigests",
)


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    allow: tuple[str, ...]
    deny: tuple[str, ...] = ()

    def permits(self, action: str) -> bool:
        if any(fnmatchcase(action, pattern) for pattern in self.deny):
            return False
        return any(fnmatchcase(action, pattern) for pattern in self.allow)


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role("OrgAdmin", "Everything, everywhere in its scope.", ("*",)),
        Role(
            "AccountAdmin",
            "Everything inside its accounts, including their role bindings; not the organization's "
            "structure (org units, accounts, principals) and not audit sealing.",
            ("*",),
            ORGANIZATION_ADMIN_ACTIONS,
        ),
        Role(
            "Approver",
            "Reads everything but the audit trail; decides model approvals and model card status.",
            READ_PATTERNS + APPROVAL_ACTIONS,
            ("audit:*",),
        ),
        Role(
            "DataScientist",
            "Reads; registers and updates models, runs monitoring and training; cannot approve.",
            (
                *READ_PATTERNS,
                "registry:Create*",
                "registry:Update*",
                "registry:Upload*",
                "monitoring:*",
                "metrics:*",
                "alarms:*",
                "training:*",
                "pipelines:Start*",
                "events:PutEvents",
                "events:TestEventPattern",
            ),
            (*APPROVAL_ACTIONS, *REGISTRY_ADMIN_ACTIONS, "audit:*"),
        ),
        Role(
            "MLEngineer",
            "Reads; operates serving, capture, monitoring, telemetry and pipelines; promotes "
            "approved models; cannot approve.",
            (
                *READ_PATTERNS,
                "registry:Create*",
                "registry:Update*",
                "registry:Upload*",
                "registry:PromoteModelVersion",
                "serving:*",
                "capture:*",
                "monitoring:*",
                "metrics:*",
                "alarms:*",
                "events:*",
                "pipelines:*",
                "training:*",
            ),
            (*APPROVAL_ACTIONS, *REGISTRY_ADMIN_ACTIONS, *EVENTS_ADMIN_ACTIONS, "audit:*"),
        ),
        Role(
            "Auditor",
            "Reads everything, including the audit trail; queries and verifies it.",
            (*READ_PATTERNS, "audit:ListRecords", "audit:QueryRecords", "audit:VerifyTrail"),
        ),
        Role("Viewer", "Reads everything but the audit trail.", READ_PATTERNS, ("audit:*",)),
    )
}


def role_permits(role_name: str, action: str) -> bool:
    role = ROLES.get(role_name)
    return role is not None and role.permits(action)
