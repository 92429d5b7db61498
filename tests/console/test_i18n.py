"""The console's languages: which one a request gets, how numbers, amounts and times are
written in each, and catalogs that hold every string in all three."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po, write_po

from darvaza.config import AmountUnit, Language
from darvaza.console import catalogs
from darvaza.console.formats import Formats
from darvaza.console.i18n import from_accept_language, locale_for, parse_language
from darvaza.console.render import say
from darvaza.errors import Phrase
from tests.support.world import Api


def _formats(language: Language, unit: AmountUnit = AmountUnit.RIAL) -> Formats:
    return Formats(locale_for(language), unit, ZoneInfo("Asia/Tehran"))


def test_accept_language_picks_the_first_language_we_have_by_quality() -> None:
    assert from_accept_language("de-DE,ar-EG;q=0.8,en;q=0.5") == Language.ARABIC
    assert from_accept_language("en;q=0.3, fa-IR;q=0.9") == Language.PERSIAN
    assert from_accept_language("fr, de") is None
    assert from_accept_language("fa;q=0, en") == Language.ENGLISH
    assert from_accept_language("fa;q=nonsense, ar") == Language.ARABIC
    assert parse_language("fa_IR") == Language.PERSIAN
    assert parse_language("xx") is None


def test_persian_writes_persian_digits_the_solar_calendar_and_rials() -> None:
    fa = _formats(Language.PERSIAN)
    # 2026-12-02 15:00 UTC is 18:30 in Tehran, 11 Azar 1405 in the Solar Hijri calendar.
    moment = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    assert fa.datetime(moment) == "۱۱ آذر ۱۴۰۵، ۱۸:۳۰"
    assert fa.date(moment) == "۱۱ آذر ۱۴۰۵"
    assert fa.amount(1_500_000) == "۱٬۵۰۰٬۰۰۰ ریال"
    assert _formats(Language.PERSIAN, AmountUnit.TOMAN).amount(1_500_000) == "۱۵۰٬۰۰۰ تومان"
    # The machine-readable time stays UTC ISO 8601, whatever the language.
    assert fa.iso(moment) == "2026-12-02T15:00:00Z"


def test_arabic_writes_arabic_indic_digits_and_english_western_ones() -> None:
    moment = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    ar = _formats(Language.ARABIC)
    assert ar.amount(1_500_000) == "١٬٥٠٠٬٠٠٠ ريال"
    assert ar.datetime(moment) == "٢ ديسمبر ٢٠٢٦، ١٨:٣٠"
    en = _formats(Language.ENGLISH, AmountUnit.TOMAN)
    assert en.amount(1_500_005) == "150,000.5 Tomans"
    assert en.datetime(moment) == "2 Dec 2026, 18:30"


def test_a_phrase_is_english_in_the_api_and_the_readers_own_on_a_page() -> None:
    moment = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    lapsed = Phrase(
        "The exemption by %(who)s expired at %(when)s.", {"who": "ops@x", "when": moment}
    )
    count = Phrase("Major incidents (SEV1 or SEV2) still open: %(count)s.", {"count": 1200})
    nested = Phrase("%(proof)s %(answer)s.", {"proof": Phrase("Backup"), "answer": Phrase("fails")})
    # Written out (API, CLI, Markdown): English, times in UTC.
    assert str(lapsed) == "The exemption by ops@x expired at 2026-12-02 15:00 UTC."
    assert str(nested) == "Backup fails."
    # Shown: the catalog's words, its digits and calendar, and a phrase within a phrase.
    fa = _formats(Language.PERSIAN)
    assert say(fa, lapsed) == "معافیتی که ops@x داده بود در ۱۱ آذر ۱۴۰۵، ۱۸:۳۰ به پایان رسید."
    assert say(fa, count) == "حادثه‌های بزرگ (SEV1 یا SEV2) که هنوز باز هستند: ۱٬۲۰۰."
    assert say(fa, nested) == "پشتیبان رد است."
    assert say(_formats(Language.ARABIC), nested) == "النسخ الاحتياطي فاشل."


def test_a_page_answers_in_the_default_the_browser_the_cookie_or_the_person(
    api: Api,
) -> None:
    def language_of(**kwargs: object) -> tuple[str, str]:
        page = api.http.get("/console/login", **kwargs)  # type: ignore[arg-type]
        head = page.text.split(">", 2)[1]
        return head.split('lang="')[1].split('"')[0], head.split('dir="')[1].split('"')[0]

    # No preference anywhere: the deployment's default, Persian, right to left.
    assert language_of(headers={"Accept-Language": ""}) == ("fa", "rtl")
    assert language_of(headers={"Accept-Language": "ar-EG,en;q=0.5"}) == ("ar", "rtl")
    assert language_of(headers={"Accept-Language": "en-GB"}) == ("en", "ltr")
    # The cookie the language menu sets wins over the browser's header.
    assert language_of(headers={"Accept-Language": "en"}, cookies={"darvaza_language": "fa"}) == (
        "fa",
        "rtl",
    )


def test_the_catalogs_are_complete() -> None:
    assert catalogs.problems() == []


def test_the_catalog_check_catches_a_string_nobody_translated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a copy: one Persian entry emptied, one Arabic placeholder lost; both reported."""
    copy = tmp_path / "locale"
    shutil.copytree(catalogs.LOCALE_DIR, copy)
    monkeypatch.setattr(catalogs, "LOCALE_DIR", copy)
    for language, change in (
        (Language.PERSIAN, lambda m: setattr(m, "string", "")),
        (Language.ARABIC, lambda m: setattr(m, "string", "بلا متغير")),
    ):
        path = catalogs.po_path(language)
        catalog = read_po(path.open("rb"), locale=language.value)
        change(catalog["Plans of %(tenant)s"])
        with path.open("wb") as handle:
            write_po(handle, catalog)
    found = catalogs.problems()
    assert "fa: not translated 'Plans of %(tenant)s'" in found
    assert "ar: placeholders differ in 'Plans of %(tenant)s'" in found
    assert any(line.startswith("fa: messages.mo is not compiled") for line in found)
