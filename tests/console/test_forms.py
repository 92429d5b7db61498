"""The console's form mechanics: checked by the API's schemas, digits as people type them,
secrets never shown again, a form's action done once however often it is sent, and the
way back after signing in never leading off the site."""

from __future__ import annotations

import secrets

import pytest

from darvaza.billing.schemas import PlanIn
from darvaza.console.forms import FieldError, check_form, form_body, once
from darvaza.console.render import safe_next
from darvaza.content.schemas import ContentChangeIn
from darvaza.db import Database
from darvaza.errors import Conflict, InvalidInput
from darvaza.identity.schemas import PasswordChangeIn
from darvaza.identity.service import SessionPolicy, authenticate, login
from darvaza.security.caller import Caller
from tests.support.settings import make_settings
from tests.support.world import person


def test_a_form_is_checked_by_the_api_schema_and_reads_persian_digits() -> None:
    fields = {"code": "gold", "name": " Gold ", "price_rials": "۱٬۵۰۰٬۰۰۰", "period_days": "٣٠"}
    body, form = check_form(PlanIn, fields)
    assert body is not None, form.errors
    assert (body.price_rials, body.period_days) == (1_500_000, 30)
    bad, form = check_form(PlanIn, {**fields, "price_rials": "12", "code": ""})
    assert bad is None
    assert form.errors["price_rials"] == [FieldError("Must be at least %(ge)s.", {"ge": 1000})]
    assert form.errors["code"] == [FieldError("This is required.", {})]
    assert form.values["name"] == " Gold "  # what was typed, to show again


def test_a_field_longer_than_the_published_limit_is_refused_even_when_spaces_pad_it() -> None:
    # The form's contract says at most 10,000 characters are sent; spaces around the text
    # count, though the text kept is trimmed.
    padded = "x" * 9_990 + "\x0c" * 20
    body, form = check_form(ContentChangeIn, {"description": padded, "title": ""})
    assert body is None
    assert form.errors == {
        "description": [FieldError("At most %(max_length)s characters.", {"max_length": 10_000})]
    }
    body, _ = check_form(ContentChangeIn, {"description": "x" * 9_990 + " " * 10})
    assert body is not None
    assert body.description == "x" * 9_990


def test_a_password_is_never_kept_to_show_again() -> None:
    _, form = check_form(PasswordChangeIn, {"current_password": "x" * 2000, "new_password": ""})
    assert "current_password" not in form.values
    assert "new_password" not in form.values
    assert "current_password" in form.errors


def test_the_contract_of_a_form_allows_the_empty_text_for_what_may_be_left_out() -> None:
    body = form_body(PlanIn)["requestBody"]
    schema = body["content"]["application/x-www-form-urlencoded"]["schema"]
    assert body["required"] is True
    assert set(schema["required"]) == {"code", "name", "price_rials", "period_days"}
    assert schema["properties"]["form_id"] == {"type": "string", "maxLength": 64}


def _caller(db: Database) -> Caller:
    who = person(db)
    policy = SessionPolicy.from_settings(make_settings())
    new = login(db, email=who.email, password=who.password, policy=policy, ip="127.0.0.1",
                user_agent=None, throttle=None)  # fmt: skip
    found = authenticate(db, new.token, policy)
    assert found is not None
    return found


def test_a_form_sent_twice_is_acted_on_once(db: Database) -> None:
    caller = _caller(db)
    done: list[int] = []

    def act() -> str:
        done.append(1)
        return f"/console/thing/{len(done)}"

    fields = {"form_id": secrets.token_urlsafe(18)}
    first = once(db, caller, fields, act, pending="/console/")
    again = once(db, caller, fields, act, pending="/console/")
    assert (first.location, first.replayed) == ("/console/thing/1", False)
    assert (again.location, again.replayed) == ("/console/thing/1", True)
    assert done == [1]
    # Another form (a new id) is another action; a form without an id is acted on.
    once(db, caller, {"form_id": secrets.token_urlsafe(18)}, act, pending="/console/")
    once(db, caller, {}, act, pending="/console/")
    assert done == [1, 1, 1]


def test_an_action_that_fails_frees_its_form_id(db: Database) -> None:
    caller = _caller(db)
    fields = {"form_id": secrets.token_urlsafe(18)}

    def refuse() -> str:
        raise Conflict("not now")

    with pytest.raises(Conflict):
        once(db, caller, fields, refuse, pending="/console/")
    assert once(db, caller, fields, lambda: "/console/ok", pending="/console/").location == (
        "/console/ok"
    )
    with pytest.raises(InvalidInput):
        once(db, caller, {"form_id": "x" * 65}, lambda: "/console/", pending="/console/")


def test_someone_elses_form_id_leads_nowhere_of_theirs(db: Database) -> None:
    mine, theirs = _caller(db), _caller(db)
    fields = {"form_id": secrets.token_urlsafe(18)}
    once(db, theirs, fields, lambda: "/console/their/secret", pending="/console/")
    replay = once(db, mine, fields, lambda: "/console/mine", pending="/console/pending")
    assert (replay.location, replay.replayed) == ("/console/pending", True)


@pytest.mark.parametrize(
    ("asked", "goes"),
    [
        ("/console/me/sessions", "/console/me/sessions"),
        ("/console/t/acme/plans?x=1", "/console/t/acme/plans?x=1"),
        ("", "/console/"),
        ("https://evil.example/console/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/api/v1/admin/users", "/console/"),
        ("/console\\..\\evil", "/console/"),
    ],
)
def test_after_signing_in_the_way_back_stays_on_the_console(asked: str, goes: str) -> None:
    assert safe_next(asked) == goes
