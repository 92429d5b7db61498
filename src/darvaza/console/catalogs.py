"""The console's translation catalogs: extracted from the templates and pages
(`babel.cfg`), kept in `locale/<language>/LC_MESSAGES/messages.po`, compiled beside them.

    python -m darvaza.console.catalogs update   # `make messages`: extract, update, compile
    python -m darvaza.console.catalogs check    # what `make test` checks: nothing missing

`update` is pybabel's extract, update and compile in one step, with one addition: English
is the source language, so its entries are filled with the strings themselves. A new or
changed string arrives in Persian and Arabic empty (or fuzzy), and `check` fails until it
is translated.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from darvaza.config import Language
from darvaza.console.i18n import DOMAIN, LOCALE_DIR

ROOT = Path(__file__).resolve().parents[3]
KEYWORDS = ("N_", "_", "gettext", "ngettext:1,2")
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def po_path(language: Language) -> Path:
    return LOCALE_DIR / language.value / "LC_MESSAGES" / f"{DOMAIN}.po"


def extract() -> Catalog:
    """Every string the console shows, as the templates and pages have them now."""
    out = ROOT / "var" / "messages.pot"
    out.parent.mkdir(parents=True, exist_ok=True)
    args = ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "--no-location",
            "--sort-output", "--omit-header", "--no-wrap", "-o", str(out)]  # fmt: skip
    for keyword in KEYWORDS:
        args += ["-k", keyword]
    CommandLineInterface().run([*args, str(ROOT)])  # type: ignore[no-untyped-call]
    with out.open("rb") as handle:
        return read_po(handle)


def _read(language: Language) -> Catalog:
    path = po_path(language)
    if not path.exists():
        return Catalog(locale=language.value, domain=DOMAIN)
    with path.open("rb") as handle:
        return read_po(handle, locale=language.value)


def compiled(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def update() -> None:
    template = extract()
    for language in Language:
        catalog = _read(language)
        catalog.update(template, no_fuzzy_matching=False)
        if language == Language.ENGLISH:
            for message in catalog:
                if message.id:
                    message.string = message.id
                    message.flags.discard("fuzzy")
        catalog.obsolete.clear()
        path = po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, omit_header=False, no_location=True, sort_output=True,
                     width=0)  # fmt: skip
        path.with_suffix(".mo").write_bytes(compiled(catalog))


def problems() -> list[str]:
    """What keeps the catalogs from being complete: strings missing from a catalog, ones
    not translated (or fuzzy), translations that lost a placeholder, stale .mo files."""
    wanted = {message.id for message in extract() if message.id}
    found: list[str] = []
    for language in Language:
        catalog = _read(language)
        have = {message.id for message in catalog if message.id}
        found += [f"{language}: missing {text!r}" for text in sorted(wanted - have, key=str)]
        found += [f"{language}: no longer used {text!r}" for text in sorted(have - wanted, key=str)]
        for message in catalog:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if not all(strings) or message.fuzzy:
                found.append(f"{language}: not translated {message.id!r}")
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            expected = set(_PLACEHOLDER.findall(" ".join(str(part) for part in ids)))
            for text in strings:
                if set(_PLACEHOLDER.findall(str(text))) != expected:
                    found.append(f"{language}: placeholders differ in {message.id!r}")
        mo = po_path(language).with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != compiled(catalog):
            found.append(f"{language}: {mo.name} is not compiled from {po_path(language).name}")
    return found


def main(argv: list[str]) -> int:
    if argv == ["update"]:
        update()
        return 0
    if argv == ["check"]:
        found = problems()
        print("\n".join(found) if found else "catalogs complete")
        return 1 if found else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
