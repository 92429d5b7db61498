"""Settings and profiles: local works with nothing set; staging and production refuse
unsafe settings and name every problem at once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from darvaza.app import create_app
from darvaza.cli import app as cli
from darvaza.config import DEFAULT_SECRET_KEY, SettingsError, load_settings
from tests.support.settings import make_settings

GOOD_KEY = "k" * 32
POSTGRES = "postgresql+psycopg://darvaza:hunter2@db.internal:5432/darvaza"
# Everything else a safe deployment sets.
DEPLOYED = {
    "public_url": "https://members.example.com",
    "payment_gateway": "zarinpal",
    "zarinpal_merchant_id": "m" * 36,
    "metrics_token": "t" * 32,
    "smtp_host": "smtp.example.com",
    "mail_from": "Members <members@example.com>",
    "audit_key": "a" * 40,
}


def test_local_works_with_nothing_set() -> None:
    settings = make_settings()
    assert settings.profile == "local"
    assert settings.problems() == []
    assert settings.effective_secret_key == DEFAULT_SECRET_KEY
    assert settings.cookies_secure is False
    assert settings.database_url.startswith("sqlite:///")
    assert (settings.host, settings.port) == ("127.0.0.1", 4000)


def test_production_lists_every_problem_at_once() -> None:
    settings = make_settings(profile="production", cookie_secure=False, debug=True)
    problems = settings.problems()
    assert len(problems) == 10
    joined = "\n".join(problems)
    for expected in (
        "SECRET_KEY is not set", "SQLite", "COOKIE_SECURE", "DEBUG", "mock", "PUBLIC_URL",
        "METRICS_TOKEN", "MAIL_FROM", "SMTP_HOST", "AUDIT_KEY",
    ):  # fmt: skip
        assert expected in joined


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (DEFAULT_SECRET_KEY, "development default"),
        ("k" * 31, "shorter than 32 bytes"),
        ("", "not set"),
    ],
)
def test_unsafe_secret_keys_are_refused(key: str, problem: str) -> None:
    for profile in ("staging", "production"):
        settings = make_settings(profile=profile, secret_key=key, database_url=POSTGRES)
        assert [p for p in settings.problems() if problem in p], settings.problems()


def test_key_length_counts_bytes_not_characters() -> None:
    # 16 Persian letters are 32 bytes in UTF-8: long enough.
    settings = make_settings(
        profile="production", secret_key="ک" * 16, database_url=POSTGRES, **DEPLOYED
    )
    assert settings.problems() == []


def test_safe_production_settings_have_no_problem() -> None:
    settings = make_settings(
        profile="production", secret_key=GOOD_KEY, database_url=POSTGRES, **DEPLOYED
    )
    assert settings.problems() == []
    assert settings.cookies_secure is True


def test_a_real_gateway_needs_its_credentials() -> None:
    for gateway, setting in (("idpay", "IDPAY_API_KEY"), ("zarinpal", "ZARINPAL_MERCHANT_ID")):
        settings = make_settings(
            profile="staging", secret_key=GOOD_KEY, public_url="https://x.example",
            payment_gateway=gateway, audit_key="a" * 40,
        )  # fmt: skip
        assert settings.problems() == [
            f"DARVAZA_PAYMENT_GATEWAY is {gateway} but DARVAZA_{setting} is not set"
        ]


@pytest.mark.parametrize(
    ("unsafe", "problem"),
    [
        ({"forwarded_allow_ips": "*"}, "DARVAZA_FORWARDED_ALLOW_IPS is *"),
        ({"forwarded_allow_ips": "10.0.0.2, *"}, "DARVAZA_FORWARDED_ALLOW_IPS is *"),
        ({"metrics_token": None}, "DARVAZA_METRICS_TOKEN is not set"),
        ({"api_token_max_days": 0}, "DARVAZA_API_TOKEN_MAX_DAYS is 0"),
        ({"api_processes": 4}, "DARVAZA_API_PROCESSES is 4 but DARVAZA_REDIS_URL is not set"),
        ({"smtp_host": None}, "DARVAZA_SMTP_HOST is not set"),
        ({"mail_backend": "files"}, "DARVAZA_MAIL_BACKEND is files"),
        ({"mail_from": "Darvaza <no-reply@localhost>"}, "DARVAZA_MAIL_FROM is the placeholder"),
        ({"audit_key": None}, "DARVAZA_AUDIT_KEY is not set"),
        ({"audit_key": "k" * 32}, "DARVAZA_AUDIT_KEY must be at least 32 bytes and not the"),
        ({"audit_key": "short"}, "DARVAZA_AUDIT_KEY must be at least 32 bytes"),
    ],
)
def test_production_refuses_what_would_quietly_weaken_it(
    unsafe: dict[str, object], problem: str
) -> None:
    settings = make_settings(
        profile="production", secret_key=GOOD_KEY, database_url=POSTGRES,
        **{**DEPLOYED, **unsafe},
    )  # fmt: skip
    assert [p for p in settings.problems() if p.startswith(problem)], settings.problems()
    assert len(settings.problems()) == 1


def test_several_api_processes_are_fine_with_redis() -> None:
    settings = make_settings(
        profile="production", secret_key=GOOD_KEY, database_url=POSTGRES, api_processes=4,
        redis_url="redis://cache.internal:6379/0", **DEPLOYED,
    )  # fmt: skip
    assert settings.problems() == []


def test_staging_allows_sqlite_but_production_does_not() -> None:
    staging = make_settings(profile="staging", secret_key=GOOD_KEY, **DEPLOYED)
    production = make_settings(profile="production", secret_key=GOOD_KEY, **DEPLOYED)
    assert staging.problems() == []
    assert production.problems() == [
        "DARVAZA_DATABASE_URL points at SQLite; production needs PostgreSQL"
    ]


def test_secure_cookies_cannot_be_turned_off_outside_local() -> None:
    settings = make_settings(
        profile="staging", secret_key=GOOD_KEY, cookie_secure=False, database_url=POSTGRES,
        **DEPLOYED,
    )  # fmt: skip
    assert settings.problems() == ["DARVAZA_COOKIE_SECURE is false; cookies must be Secure"]


def test_app_factory_refuses_unsafe_settings() -> None:
    with pytest.raises(SettingsError) as refused:
        create_app(make_settings(profile="production"))
    assert len(refused.value.problems) == 8


def test_unreadable_values_are_named() -> None:
    os.environ["DARVAZA_PORT"] = "not-a-port"
    os.environ["DARVAZA_DATABASE_URL"] = "mysql://x@y/z"
    try:
        with pytest.raises(SettingsError) as refused:
            load_settings(_env_file=None)
    finally:
        del os.environ["DARVAZA_PORT"], os.environ["DARVAZA_DATABASE_URL"]
    joined = "\n".join(refused.value.problems)
    assert "DARVAZA_PORT" in joined
    assert "DARVAZA_DATABASE_URL" in joined


def test_dotenv_file_is_read(tmp_path: os.PathLike[str]) -> None:
    with open(".env", "w", encoding="utf-8") as env_file:
        env_file.write("DARVAZA_PORT=4100\nDARVAZA_PROFILE=staging\n")
    settings = load_settings()
    assert (settings.port, settings.profile) == (4100, "staging")


def test_masked_settings_hide_every_secret() -> None:
    settings = make_settings(secret_key=GOOD_KEY, database_url=POSTGRES, metrics_token="m" * 40)
    printed = repr(settings.masked())
    assert GOOD_KEY not in printed
    assert "hunter2" not in printed
    assert "m" * 40 not in printed
    assert "db.internal" in printed  # the rest of the URL stays readable


runner = CliRunner()


def test_config_check_passes_in_local() -> None:
    result = runner.invoke(cli, ["config", "check"], env={})
    assert result.exit_code == 0, result.output
    assert "profile = local" in result.output
    assert "No problems" in result.output


def test_config_check_fails_on_unsafe_production_and_masks_secrets() -> None:
    env = {
        "DARVAZA_PROFILE": "production",
        "DARVAZA_SECRET_KEY": "too-short-but-secret",
        "DARVAZA_DATABASE_URL": POSTGRES,
        "DARVAZA_DEBUG": "true",
        "DARVAZA_SECRT_KEY": "typo",
        "DARVAZA_PUBLIC_URL": "https://members.example.com",
        "DARVAZA_PAYMENT_GATEWAY": "idpay",
        "DARVAZA_IDPAY_API_KEY": "idpay-key-that-must-not-print",
        "DARVAZA_METRICS_TOKEN": "metrics-token-that-must-not-print",
        "DARVAZA_SMTP_HOST": "smtp.example.com",
        "DARVAZA_SMTP_PASSWORD": "smtp-password-that-must-not-print",
        "DARVAZA_MAIL_FROM": "Members <members@example.com>",
        "DARVAZA_AUDIT_KEY": "audit-key-that-must-not-print-at-all",
    }
    result = runner.invoke(cli, ["config", "check"], env=env)
    assert result.exit_code == 1
    assert "too-short-but-secret" not in result.output
    assert "idpay-key-that-must-not-print" not in result.output
    assert "metrics-token-that-must-not-print" not in result.output
    assert "smtp-password-that-must-not-print" not in result.output
    assert "audit-key-that-must-not-print-at-all" not in result.output
    assert "hunter2" not in result.output
    assert "2 problem(s)" in result.output
    assert "shorter than 32 bytes" in result.output
    assert "DARVAZA_DEBUG is on" in result.output
    assert "DARVAZA_SECRT_KEY is not a Darvaza setting" in result.output


def test_config_check_exits_2_on_unreadable_settings() -> None:
    result = runner.invoke(cli, ["config", "check"], env={"DARVAZA_PROFILE": "prod"})
    assert result.exit_code == 2
    assert "DARVAZA_PROFILE" in result.output


def test_serve_refuses_unsafe_production_naming_every_problem() -> None:
    """The real command, in its own process, with nothing but the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    env.update({"DARVAZA_PROFILE": "production", "DARVAZA_DEBUG": "1"})
    result = subprocess.run(
        [sys.executable, "-m", "darvaza.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Refusing to start in the production profile" in result.stderr
    for problem in ("SECRET_KEY is not set", "SQLite", "DEBUG is on"):
        assert problem in result.stderr


def test_every_rate_limit_setting_is_checked() -> None:
    from pydantic import ValidationError

    from darvaza.config import Settings

    names = [name for name in Settings.model_fields if name.startswith("rate_limit_")]
    assert "rate_limit_anonymous_audit_per_ip" in names
    for name in names:
        with pytest.raises(ValidationError) as refused:
            make_settings(**{name: "lots"})
        assert "is not a rate limit like '30/minute'" in str(refused.value), name
