"""Tenants and their people; another tenant's ids behave as unknown ids."""

from __future__ import annotations

import pytest

from darvaza.errors import NotFound
from darvaza.tenants.service import remove_manager
from tests.support.world import SYSTEM, Api, admin_token, error_code, person


def _tenant(api: Api, token: str, slug: str, owner_email: str) -> dict[str, str]:
    response = api.call(
        "POST", "/api/v1/admin/tenants", token=token,
        json={"slug": slug, "name": f"{slug} Ltd", "owner_email": owner_email},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_platform_admin_creates_a_tenant_with_its_owner(api: Api) -> None:
    admin = admin_token(api.db)
    owner = person(api.db)
    tenant = _tenant(api, admin, "acme", owner.email)
    assert tenant["slug"] == "acme"
    roles = api.call("GET", "/api/v1/auth/session", token=api.login(owner)).json()["tenant_roles"]
    assert roles == [
        {"tenant_id": tenant["id"], "slug": "acme", "name": "acme Ltd", "role": "owner"}
    ]
    public = api.call("GET", "/api/v1/tenants/acme")
    assert public.json() == {"slug": "acme", "name": "acme Ltd"}


@pytest.mark.parametrize(
    "slug", ["Acme", "-acme", "acme-", "ac--me", "admin", "a" * 64, "ac me", "ак", "../x"]
)
def test_bad_slugs_are_refused(api: Api, slug: str) -> None:
    response = api.call(
        "POST", "/api/v1/admin/tenants", token=admin_token(api.db),
        json={"slug": slug, "name": "x", "owner_email": person(api.db).email},
    )  # fmt: skip
    assert response.status_code == 422
    assert error_code(response) in {"invalid_slug", "validation_error"}


def test_a_taken_slug_and_an_unknown_owner(api: Api) -> None:
    admin = admin_token(api.db)
    _tenant(api, admin, "acme", person(api.db).email)
    taken = api.call(
        "POST", "/api/v1/admin/tenants", token=admin,
        json={"slug": "acme", "name": "Other", "owner_email": person(api.db).email},
    )  # fmt: skip
    assert taken.status_code == 409
    assert error_code(taken) == "slug_taken"
    unknown = api.call(
        "POST", "/api/v1/admin/tenants", token=admin,
        json={"slug": "fresh", "name": "Fresh", "owner_email": "nobody@example.com"},
    )  # fmt: skip
    assert unknown.status_code == 422
    assert error_code(unknown) == "unknown_user"


def test_owners_manage_managers(api: Api) -> None:
    """Owners invite (tests/identity/test_mail_flows.py follows the mail); platform admins
    may add an existing account at once."""
    admin = admin_token(api.db)
    owner, manager = person(api.db), person(api.db)
    _tenant(api, admin, "acme", owner.email)
    owner_token = api.login(owner)
    invited = api.call(
        "POST", "/api/v1/tenants/acme/managers", token=owner_token, json={"email": manager.email}
    )
    assert invited.status_code == 202
    added = api.call(
        "POST", "/api/v1/admin/tenants/acme/managers", token=admin, json={"email": manager.email}
    )
    assert added.status_code == 201
    assert added.json()["role"] == "manager"
    manager_token = api.login(manager)
    members = api.call("GET", "/api/v1/tenants/acme/members", token=manager_token).json()
    assert {(m["email"], m["role"]) for m in members} == {
        (owner.email, "owner"),
        (manager.email, "manager"),
    }
    twice = api.call(
        "POST", "/api/v1/admin/tenants/acme/managers", token=admin, json={"email": manager.email}
    )
    assert twice.status_code == 409
    # A manager may not invite managers.
    other = person(api.db)
    refused = api.call(
        "POST", "/api/v1/tenants/acme/managers", token=manager_token, json={"email": other.email}
    )
    assert refused.status_code == 403
    # Removing a manager ends their rights here; their session stays.
    removed = api.call(
        "DELETE", f"/api/v1/tenants/acme/managers/{manager.user.id}", token=owner_token
    )
    assert removed.status_code == 204
    assert api.call("GET", "/api/v1/auth/session", token=manager_token).status_code == 200
    assert api.call("GET", "/api/v1/tenants/acme/members", token=manager_token).status_code == 403
    again = api.call(
        "DELETE", f"/api/v1/tenants/acme/managers/{manager.user.id}", token=owner_token
    )
    assert again.status_code == 404


def test_an_owner_cannot_be_removed_as_a_manager(api: Api) -> None:
    admin = admin_token(api.db)
    owner = person(api.db)
    _tenant(api, admin, "acme", owner.email)
    response = api.call("DELETE", f"/api/v1/tenants/acme/managers/{owner.user.id}", token=admin)
    assert response.status_code == 404


def test_promoting_a_manager_to_owner_ends_their_sessions(api: Api) -> None:
    admin = admin_token(api.db)
    owner, manager = person(api.db), person(api.db)
    _tenant(api, admin, "acme", owner.email)
    api.call(
        "POST", "/api/v1/admin/tenants/acme/managers", token=admin, json={"email": manager.email}
    )
    manager_token = api.login(manager)
    promoted = api.call(
        "POST", "/api/v1/admin/tenants/acme/owners", token=admin, json={"email": manager.email}
    )
    assert promoted.status_code == 201
    assert promoted.json()["role"] == "owner"
    assert api.call("GET", "/api/v1/auth/session", token=manager_token).status_code == 401
    again = api.call(
        "POST", "/api/v1/admin/tenants/acme/owners", token=admin, json={"email": manager.email}
    )
    assert again.status_code == 409


def test_another_tenants_people_are_unknown_ids(api: Api) -> None:
    admin = admin_token(api.db)
    owner_a, owner_b, manager_a = person(api.db), person(api.db), person(api.db)
    _tenant(api, admin, "acme", owner_a.email)
    _tenant(api, admin, "globex", owner_b.email)
    api.call(
        "POST", "/api/v1/admin/tenants/acme/managers", token=admin, json={"email": manager_a.email}
    )
    owner_b_token = api.login(owner_b)
    # Through B's own path, A's manager does not exist.
    via_b = api.call(
        "DELETE", f"/api/v1/tenants/globex/managers/{manager_a.user.id}", token=owner_b_token
    )
    assert via_b.status_code == 404
    # Through A's path, B's owner is not allowed.
    via_a = api.call(
        "DELETE", f"/api/v1/tenants/acme/managers/{manager_a.user.id}", token=owner_b_token
    )
    assert via_a.status_code == 403
    members = api.call("GET", "/api/v1/tenants/acme/members", token=owner_b_token)
    assert members.status_code == 403
    # And the rule lives in the service, whatever the route does.
    with api.db.read() as session:
        from darvaza.tenants.service import get_tenant

        globex = get_tenant(session, "globex")
    with pytest.raises(NotFound):
        remove_manager(api.db, SYSTEM, tenant_id=globex.id, user_id=manager_a.user.id)


def test_unknown_tenants_are_404(api: Api) -> None:
    admin = admin_token(api.db)
    for method, path in [
        ("GET", "/api/v1/tenants/nowhere"),
        ("GET", "/api/v1/tenants/nowhere/members"),
        ("DELETE", f"/api/v1/tenants/nowhere/managers/{person(api.db).user.id}"),
    ]:
        response = api.call(method, path, token=admin)
        assert response.status_code == 404, (method, path)
        assert error_code(response) == "not_found"


def test_tenant_directory_pages_by_slug(api: Api) -> None:
    admin = admin_token(api.db)
    for slug in ("alpha", "bravo", "charlie"):
        _tenant(api, admin, slug, person(api.db).email)
    first = api.call("GET", "/api/v1/admin/tenants?limit=2", token=admin).json()
    assert [t["slug"] for t in first] == ["alpha", "bravo"]
    rest = api.call("GET", "/api/v1/admin/tenants?limit=2&after=bravo", token=admin).json()
    assert [t["slug"] for t in rest] == ["charlie"]
