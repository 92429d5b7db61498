"""Rendering a console page: one layout, the person's language, their navigation.

Each domain makes its own `Pages(Path(__file__).parent / "templates")`; its templates
extend the console's `base.html` and find the console's shared parts (`forms.html`,
`pager.html`) after their own. Every page gets, besides what its handler passes:

- `_` and `ngettext`: the request's translations (the only way a template writes text);
- `fmt`: numbers, amounts and times in the request's language (`formats.Formats`);
- `view`: who is signed in, their navigation, the CSRF token and a fresh form id.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from darvaza.config import Language
from darvaza.console.formats import Formats
from darvaza.console.forms import FieldError, FormState, once
from darvaza.console.i18n import NATIVE_NAMES, Locale, locale_for, negotiate
from darvaza.console.labels import label
from darvaza.console.nav import Navigation, NavSection
from darvaza.db import Database
from darvaza.errors import HTML_PAGE, N_, DarvazaError, Phrase, refuses
from darvaza.http import get_parts
from darvaza.security.caller import Caller
from darvaza.security.policy import Access, csrf_token_for

CONSOLE_TEMPLATES = Path(__file__).parent / "templates"
HOME = "/console/"

# What a refusal says when the catalog has no translation of its own message.
_BY_STATUS = {
    400: N_("The request could not be read."),
    401: N_("Sign in first."),
    403: N_("You are not allowed to do this."),
    404: N_("We could not find that: it does not exist, or it is not yours to see."),
    405: N_("That page does not take this kind of request."),
    409: N_("That cannot be done in its current state."),
    410: N_("That link has been used or has expired."),
    413: N_("That is too large."),
    415: N_("That kind of file or form is not accepted."),
    422: N_("Something in the form is not valid."),
    429: N_("Too many attempts; wait a little and try again."),
    502: N_("The payment gateway did not answer as it should; try again shortly."),
    503: N_("The service is unavailable for a moment; try again shortly."),
}
_SOMETHING_WRONG = N_("Something went wrong.")
_HEADINGS = {
    400: N_("Bad request"),
    401: N_("Sign in first"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Not allowed"),
    409: N_("Not now"),
    410: N_("Gone"),
    413: N_("Too large"),
    415: N_("Not accepted"),
    422: N_("Not valid"),
    429: N_("Too many attempts"),
    502: N_("Gateway trouble"),
    503: N_("Unavailable"),
}


@dataclass(frozen=True)
class View:
    """What the layout needs about the request, whatever the page."""

    user: Caller | None
    nav: list[NavSection]
    path: str
    # The path with its query: where the language menu comes back to.
    here: str
    language: Language
    direction: str
    csrf_token: str | None
    languages: list[tuple[str, str]]
    time_zone: str

    @staticmethod
    def form_id() -> str:
        """A new id for one form on the page: sent twice, its action is done once."""
        return secrets.token_urlsafe(18)


def locale_of(request: Request, caller: Caller | None) -> Locale:
    settings = get_parts(request).settings
    preference = caller.language if caller is not None else None
    return locale_for(negotiate(request, preference, settings.console_language))


def formats_of(request: Request, locale: Locale) -> Formats:
    settings = get_parts(request).settings
    return Formats(locale, settings.console_amount_unit, ZoneInfo(settings.console_time_zone))


def translated(locale: Locale, message: str, status_code: int) -> str:
    """A refusal's message in the person's language: its own translation when the catalog
    has one, else what refusals with its status say."""
    if locale.knows(message):
        return locale.gettext(message)
    return locale.gettext(_BY_STATUS.get(status_code, _SOMETHING_WRONG))


def say(fmt: Formats, phrase: Phrase) -> str:
    """A phrase in the person's language: a form's problem (a service's refusal, or a
    field's), or a sentence a service put together (a readiness blocker). Its values are
    written the person's way too: numbers in their digits, times in their calendar."""
    status = phrase.values.get("_status")
    if isinstance(phrase, FieldError) and isinstance(status, int):
        return translated(fmt.locale, phrase.message, status)
    return fmt.locale.gettext(
        phrase.message, **{name: _value(fmt, v) for name, v in phrase.values.items()}
    )


def _value(fmt: Formats, value: object) -> object:
    if isinstance(value, Phrase):
        return say(fmt, value)
    if isinstance(value, datetime):
        return fmt.datetime(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return fmt.number(value)
    return value


class Pages:
    def __init__(self, templates: Path | None = None) -> None:
        folders = [templates] if templates is not None else []
        self.env = Environment(
            loader=ChoiceLoader(
                [FileSystemLoader(folder) for folder in [*folders, CONSOLE_TEMPLATES]]
            ),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(
        self,
        request: Request,
        caller: Caller | Access | None,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        if isinstance(caller, Access):
            caller = caller.caller
        parts = get_parts(request)
        locale = locale_of(request, caller)
        view = View(
            user=caller,
            nav=parts.get(Navigation).for_caller(caller),
            path=request.url.path,
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            language=locale.language,
            direction=locale.direction,
            csrf_token=(
                csrf_token_for(parts.settings.effective_secret_key, caller.credential_id)
                if caller is not None
                else None
            ),
            languages=[(language.value, name) for language, name in NATIVE_NAMES.items()],
            time_zone=parts.settings.console_time_zone,
        )
        fmt = formats_of(request, locale)

        def ngettext(singular: str, plural: str, count: int, /, **values: object) -> str:
            # The count in the language's own digits, as every other number on the page.
            return locale.ngettext(singular, plural, count, **{"num": fmt.number(count), **values})

        body = self.env.get_template(template).render(
            {
                **(context or {}),
                "_": locale.gettext,
                "ngettext": ngettext,
                "fmt": fmt,
                "say": functools.partial(say, fmt),
                "label": lambda value: locale.gettext(label(value)),
                "view": view,
            }
        )
        answer_headers = {"Cache-Control": "no-store", **(headers or {})}
        return HTMLResponse(body, status_code=status_code, headers=answer_headers)

    def refusal(
        self,
        request: Request,
        caller: Caller | Access | None,
        status_code: int,
        message: str,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """A refusal as a page: what went wrong in the person's language (as a form's
        refusal says it), and the request id to quote when asking for help."""
        return self.render(
            request,
            caller,
            "error.html",
            {
                "heading": _HEADINGS.get(status_code) or HTTPStatus(status_code).phrase,
                "problem": FieldError.refused(message, status_code),
                "request_id": request_id,
                "status_code": status_code,
            },
            status_code=status_code,
            headers=headers,
        )


CONSOLE = Pages()


def see_other(location: str) -> RedirectResponse:
    """After a form: the page to show next (Post/Redirect/Get)."""
    return RedirectResponse(location, status_code=303)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path of ours, never another site."""
    if not value:
        return HOME
    parsed = urlsplit(value)
    if parsed.scheme or parsed.netloc or not parsed.path.startswith("/console/"):
        return HOME
    if value.startswith("//") or "\\" in value:
        return HOME
    return value


def page_refusals(**why: str) -> dict[int | str, dict[str, Any]]:
    """A page's refusals for `responses=`: each is the page again (or the error page),
    saying what is wrong; a client that does not ask for HTML gets the error shape."""
    return {
        code: {**answer, "content": {**HTML_PAGE, **_ERROR_SHAPE}}
        for code, answer in refuses(**why).items()
    }


_ERROR_SHAPE = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


def act_once(
    db: Database, access: Access, fields: Mapping[str, str], where: str,
    action: Callable[[], object], again: Callable[[FormState, int], HTMLResponse],
    form: FormState,
) -> Response:  # fmt: skip
    """Do a form's action once (however often the form is sent) and go to `where`; a
    refusal shows the page again with why (`again`), except an unknown id, which stays a
    404."""

    def act() -> str:
        action()
        return where

    try:
        return see_other(once(db, access.user, fields, act, pending=where).location)
    except DarvazaError as exc:
        if exc.status_code == 404:
            raise
        form.refuse(exc)
        return again(form, exc.status_code)
