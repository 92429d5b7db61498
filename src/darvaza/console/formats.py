"""How the console writes numbers, amounts and times in each language. Presentation only:
the database and the API keep integers of Rials and UTC ISO 8601."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta
from datetime import date as Day
from datetime import datetime as Moment
from zoneinfo import ZoneInfo

import jdatetime
from babel.dates import format_date as babel_date
from babel.dates import format_datetime as babel_datetime
from babel.dates import format_timedelta

from darvaza.config import AmountUnit, Language
from darvaza.console.i18n import Locale
from darvaza.errors import N_

# Extended Arabic-Indic digits (Persian) and Arabic-Indic digits, from zero.
_DIGITS = {
    Language.PERSIAN: "".join(chr(0x06F0 + n) for n in range(10)),
    Language.ARABIC: "".join(chr(0x0660 + n) for n in range(10)),
}
# The Arabic script's thousands and decimal separators (the same for Persian and Arabic),
# and its comma.
_ARABIC_GROUP, _ARABIC_DECIMAL, _ARABIC_COMMA = "\u066c", "\u066b", "\u060c"
_GROUP = {Language.PERSIAN: _ARABIC_GROUP, Language.ARABIC: _ARABIC_GROUP}
_DECIMAL = {Language.PERSIAN: _ARABIC_DECIMAL, Language.ARABIC: _ARABIC_DECIMAL}
_BABEL_FORMAT = {
    Language.ARABIC: f"d MMMM y{_ARABIC_COMMA} HH:mm",
    Language.ENGLISH: "d MMM y, HH:mm",
}
_BABEL_DATE = {Language.ARABIC: "d MMMM y", Language.ENGLISH: "d MMM y"}


def localise_digits(text: str, language: Language) -> str:
    """Western digits in `text` written in the language's own digits."""
    digits = _DIGITS.get(language)
    return text.translate(str.maketrans("0123456789", digits)) if digits else text


@dataclass(frozen=True)
class Formats:
    """The formatting of one request: its language, the deployment's unit and zone."""

    locale: Locale
    unit: AmountUnit
    zone: ZoneInfo

    @property
    def language(self) -> Language:
        return self.locale.language

    def number(self, value: int | float) -> str:
        """A number with thousands separators, in the language's digits."""
        whole, _, fraction = f"{value:,}".partition(".")
        group = _GROUP.get(self.language, ",")
        text = whole.replace(",", group)
        if fraction:
            text += _DECIMAL.get(self.language, ".") + fraction
        return localise_digits(text, self.language)

    def amount(self, rials: int) -> str:
        """An amount stored in Rials, in the deployment's unit (ten Rials to the Toman)."""
        if self.unit == AmountUnit.TOMAN:
            tomans = rials // 10 if rials % 10 == 0 else rials / 10
            return self.locale.gettext("%(amount)s Tomans", amount=self.number(tomans))
        return self.locale.gettext("%(amount)s Rials", amount=self.number(rials))

    def local_time(self, moment: Moment) -> Moment:
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(self.zone)

    def datetime(self, moment: Moment | None) -> str:
        """A moment in the deployment's zone: the Solar Hijri calendar in Persian."""
        if moment is None:
            return ""
        local = self.local_time(moment)
        if self.language == Language.PERSIAN:
            solar = jdatetime.datetime.fromgregorian(datetime=local, locale="fa_IR")
            text = solar.strftime(f"%d %B %Y{_ARABIC_COMMA} %H:%M")
        else:
            text = babel_datetime(local, _BABEL_FORMAT[self.language], locale=self.language.value)
        return localise_digits(text, self.language)

    def date(self, moment: Moment | Day | None) -> str:
        """A day (a moment's, in the deployment's zone): Solar Hijri in Persian."""
        if moment is None:
            return ""
        day = self.local_time(moment).date() if isinstance(moment, Moment) else moment
        if self.language == Language.PERSIAN:
            text = jdatetime.date.fromgregorian(date=day, locale="fa_IR").strftime("%d %B %Y")
        else:
            text = babel_date(day, _BABEL_DATE[self.language], locale=self.language.value)
        return localise_digits(text, self.language)

    def size(self, count: int) -> str:
        """A size in bytes, in the largest binary unit below it ("1.5 MiB")."""
        units = (N_("%(size)s bytes"), N_("%(size)s KiB"), N_("%(size)s MiB"),
                 N_("%(size)s GiB"), N_("%(size)s TiB"))  # fmt: skip
        value, unit = float(count), 0
        while value >= 1024 and unit < len(units) - 1:
            value, unit = value / 1024, unit + 1
        shown = self.number(count if unit == 0 else round(value, 1))
        return self.locale.gettext(units[unit], size=shown)

    def age(self, seconds: float) -> str:
        """How long, rounded to its largest unit ("3 hours"), in the language's words."""
        text = format_timedelta(
            timedelta(seconds=max(0.0, seconds)), threshold=1, locale=self.language.value
        )
        return localise_digits(text, self.language)

    @staticmethod
    def iso(moment: Moment | None) -> str:
        """The machine-readable moment (UTC ISO 8601), for `<time datetime=...>`."""
        if moment is None:
            return ""
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
