"""The console's languages: which one a request gets, and its translations.

The catalogs (`locale/<language>/LC_MESSAGES/messages.po`, compiled beside as `.mo`) hold
every string of every domain's templates and pages; `make messages` extracts, updates
and compiles them. English is the source language: its catalog maps each string to
itself, so a missing English entry shows the same as a present one, and the test of
complete catalogs is what keeps all three whole.
"""

from __future__ import annotations

import functools
import gettext as gettext_module
from dataclasses import dataclass
from pathlib import Path

from babel.support import Translations
from starlette.requests import Request

from darvaza.config import Language

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
# The cookie a person's choice is kept in (and set from their preference at sign-in).
LANGUAGE_COOKIE = "darvaza_language"
RIGHT_TO_LEFT = frozenset({Language.PERSIAN, Language.ARABIC})
# Each language in its own name, for the switcher.
NATIVE_NAMES = {Language.PERSIAN: "فارسی", Language.ARABIC: "العربية", Language.ENGLISH: "English"}


@dataclass(frozen=True)
class Locale:
    """One request's language, and how its page is laid out."""

    language: Language
    translations: gettext_module.NullTranslations

    @property
    def direction(self) -> str:
        return "rtl" if self.language in RIGHT_TO_LEFT else "ltr"

    def gettext(self, message: str, /, **values: object) -> str:
        """`message` in this language, with `%(name)s` filled from `values`."""
        text = self.translations.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, count: int, /, **values: object) -> str:
        text = self.translations.ngettext(singular, plural, count)
        return text % {"num": count, **values}

    def knows(self, message: str) -> bool:
        """Whether the catalog has `message` (English knows every string it is given)."""
        return self.language == Language.ENGLISH or self.translations.gettext(message) != message


@functools.cache
def translations_for(language: Language) -> gettext_module.NullTranslations:
    return Translations.load(str(LOCALE_DIR), [language.value], DOMAIN)


def locale_for(language: Language) -> Locale:
    return Locale(language, translations_for(language))


def parse_language(value: str | None) -> Language | None:
    """A language we have, from a tag such as `fa`, `fa-IR` or `ar_EG`; else None."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    try:
        return Language(primary)
    except ValueError:
        return None


def from_accept_language(header: str) -> Language | None:
    """The first language of the header's preference order that we have."""
    ranked: list[tuple[float, int, Language]] = []
    for position, item in enumerate(header.split(",")[:20]):
        tag, _, parameters = item.partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                continue
        language = parse_language(tag)
        if language is not None and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


def negotiate(request: Request, preference: str | None, default: Language) -> Language:
    """The person's saved preference, else the cookie, else the browser's
    Accept-Language, else the deployment's default."""
    return (
        parse_language(preference)
        or parse_language(request.cookies.get(LANGUAGE_COOKIE))
        or from_accept_language(request.headers.get("accept-language", ""))
        or default
    )
