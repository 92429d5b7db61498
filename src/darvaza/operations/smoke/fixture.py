"""The smoke checks' side of the smoke fixture (`POST /api/v1/admin/smoke-fixture`): the
instance's synthetic tenants and the accounts a check asks for by label, each signed in
with the new password the call answers. Reused run after run, so nothing piles up."""

from __future__ import annotations

from dataclasses import dataclass, field

from darvaza.operations.smoke.client import SmokeClient


@dataclass
class SmokeAccount:
    email: str
    password: str
    user_id: str
    token: str = ""


@dataclass
class SmokeFixture:
    tenant: str
    other_tenant: str
    plan_code: str
    accounts: dict[str, SmokeAccount] = field(default_factory=dict)

    def token(self, label: str) -> str:
        return self.accounts[label].token


def smoke_fixture(
    client: SmokeClient,
    admin_token: str,
    accounts: dict[str, str | None],
    *,
    sign_in: bool = True,
) -> SmokeFixture:
    """The fixture with these accounts (label: platform role or None), signed in unless
    `sign_in` is False (the tenants' owners, `owner` and `other-owner`, always come)."""
    body = {
        "accounts": [{"label": label, "platform_role": role} for label, role in accounts.items()]
    }
    made = client.expect(
        200, "POST", "/api/v1/admin/smoke-fixture", token=admin_token, json=body
    ).json()
    fixture = SmokeFixture(made["tenant"], made["other_tenant"], made["plan_code"])
    for account in made["accounts"]:
        found = SmokeAccount(account["email"], account["password"], account["user_id"])
        if sign_in:
            login = client.expect(
                200, "POST", "/api/v1/auth/login",
                json={"email": found.email, "password": found.password},
            )  # fmt: skip
            found.token = str(login.json()["token"])
        fixture.accounts[account["label"]] = found
    return fixture
