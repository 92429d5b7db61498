"""Settings: one object read from `DARVAZA_*` environment variables and an optional
`.env`, with the profile it runs in; `safety.py` says what is unsafe for a profile."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from limits import parse_many
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from darvaza.config.age_keys import parse_identities, parse_recipients
from darvaza.config.environment import ENV_PREFIX, mask_url_password, plain_name, served_url
from darvaza.config.incidents import parse_update_cadence
from darvaza.config.sla import SlaTarget, parse_sla

# The key every fresh checkout shares. Fine for `local`; refused everywhere else.
DEFAULT_SECRET_KEY = "darvaza-local-development-secret-do-not-use-in-production"
# The audit key in `local`; refused everywhere else.
DEFAULT_AUDIT_KEY = "darvaza-local-audit-key-do-not-use-outside-local"
# The sender in `local`; production refuses it (mail from localhost does not arrive).
DEFAULT_MAIL_FROM = "Darvaza <no-reply@localhost>"
MIN_SECRET_KEY_BYTES = 32


class Profile(StrEnum):
    LOCAL = "local"
    STAGING = "staging"
    PRODUCTION = "production"


class GatewayName(StrEnum):
    MOCK = "mock"
    IDPAY = "idpay"
    ZARINPAL = "zarinpal"


class Language(StrEnum):
    """The console's languages."""

    PERSIAN = "fa"
    ARABIC = "ar"
    ENGLISH = "en"


class AmountUnit(StrEnum):
    """How the console shows amounts (stored and sent as Rials always)."""

    RIAL = "rial"
    TOMAN = "toman"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Settings(BaseSettings):
    """Every setting Darvaza reads. `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    profile: Profile = Profile.LOCAL
    secret_key: SecretStr | None = None
    debug: bool = False

    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=1, le=65535)
    # Addresses whose X-Forwarded-For / X-Forwarded-Proto headers are trusted (a reverse proxy).
    forwarded_allow_ips: str = "127.0.0.1"

    database_url: str = "sqlite:///./var/darvaza.db"
    database_pool_size: int = Field(default=5, ge=1, le=100)
    database_connect_timeout_seconds: int = Field(default=5, ge=1, le=60)
    # SQLite waits this long for the write lock before giving up.
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)

    # None means: Secure everywhere except the `local` profile.
    cookie_secure: bool | None = None
    max_request_body_bytes: int = Field(default=1_048_576, ge=1024)
    hsts_max_age_seconds: int = Field(default=31_536_000, ge=0)
    # When set, GET /metrics requires `Authorization: Bearer <metrics_token>` (required in
    # production: the metrics say who pays and how much, and where the platform hurts).
    metrics_token: SecretStr | None = None
    # How many API processes serve this deployment, on every host together. More than one
    # needs DARVAZA_REDIS_URL outside `local`, or each would keep rate limits of its own.
    api_processes: int = Field(default=1, ge=1, le=1024)
    # API processes `darvaza serve` runs on this host (`--workers`): the way to use more
    # than one core. Beyond one, rate limits need DARVAZA_REDIS_URL to be shared.
    serve_workers: int = Field(default=1, ge=1, le=64)
    readiness_timeout_seconds: float = Field(default=3.0, gt=0, le=60)

    log_level: LogLevel = LogLevel.INFO

    # Which instance this is, in the evidence of every operational run and in the ops
    # summary (so a staging run is never taken for a local one); and the revision it runs
    # (unset: read from git when Darvaza runs from a checkout).
    instance_name: str = Field(
        default_factory=lambda: plain_name(socket.gethostname()),
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    )
    revision: str | None = Field(default=None, min_length=1, max_length=64)

    # The console. Its language when neither the person nor their browser chooses one;
    # amounts in Rials or Tomans (one Toman is ten Rials); times in this zone (the API
    # answers in UTC whatever these say).
    console_language: Language = Language.PERSIAN
    console_amount_unit: AmountUnit = AmountUnit.RIAL
    console_time_zone: str = "Asia/Tehran"

    # Identity.
    password_min_length: int = Field(default=10, ge=8, le=128)
    # Staff API tokens expire after at most this many days (the default when none is
    # asked for); 0 lets tokens never expire, which production refuses.
    api_token_max_days: int = Field(default=90, ge=0, le=3650)
    session_absolute_hours: int = Field(default=168, ge=1, le=24 * 90)
    session_idle_minutes: int = Field(default=720, ge=5, le=24 * 60 * 30)

    # Rate limits (the `limits` library's notation, e.g. "30/minute" or "5 per 10 minutes").
    # Counters live in memory, or in Redis when DARVAZA_REDIS_URL is set so that several
    # API processes share them.
    redis_url: str | None = None
    # Keeps this deployment's counters apart from anything else in the same Redis.
    redis_key_prefix: str = Field(default="darvaza", min_length=1, max_length=64)
    rate_limit_login_per_ip: str = "30/minute"
    rate_limit_login_per_email: str = "10/minute"
    rate_limit_register_per_ip: str = "20/hour"
    rate_limit_token_create_per_user: str = "20/hour"

    # The address customers' browsers reach Darvaza at: every link it gives out starts with
    # it, and gateways send payers back to <public_url>/api/v1/payments/callback/<gateway>.
    # Unset in `local`, it follows the host and port Darvaza serves on; elsewhere it must be
    # set (the https address of the proxy in front).
    public_url: str = ""
    payment_gateway: GatewayName = GatewayName.MOCK
    gateway_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    idpay_api_key: SecretStr | None = None
    idpay_base_url: str = "https://api.idpay.ir/v1.1"
    idpay_sandbox: bool = False
    zarinpal_merchant_id: SecretStr | None = None
    zarinpal_base_url: str = "https://payment.zarinpal.com/pg"
    zarinpal_sandbox: bool = False
    rate_limit_callback_per_ip: str = "120/minute"
    # Checkouts: each one is a payment at the gateway that reconciliation must look after.
    rate_limit_checkout_per_user: str = "20/hour"
    rate_limit_checkout_per_ip: str = "60/hour"

    # Protected content.
    storage_dir: str = "./var/storage"
    content_max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    download_token_ttl_seconds: int = Field(default=300, ge=10, le=86_400)
    download_token_max_uses: int = Field(default=10, ge=1, le=1000)
    # "none": Darvaza streams files itself; "x-accel": nginx sends them (X-Accel-Redirect).
    download_offload: Literal["none", "x-accel"] = "none"
    # nginx's internal location that maps onto DARVAZA_STORAGE_DIR.
    download_offload_prefix: str = "/protected-files/"

    # Payments still open this long are looked up at their gateway by the reconcile job
    # (IDPay returns a payment not verified within 10 minutes to the payer), and expire
    # when the gateway still calls them unpaid after the second.
    payment_reconcile_after_minutes: int = Field(default=3, ge=1, le=24 * 60)
    payment_expire_after_minutes: int = Field(default=60, ge=5, le=30 * 24 * 60)
    # How long after a payment its gateway still verifies it (IDPay: 10 minutes, then it
    # returns the money): a payment failed on an answer that was not final is asked about
    # again within it.
    payment_verify_window_minutes: int = Field(default=10, ge=1, le=24 * 60)

    # The audit log's key: the seals' HMAC key and the checkpoints' signing key are
    # derived from it. It must live outside the database, and differ from the secret key;
    # required outside `local`. Checkpoints are also copied to audit_checkpoint_dir.
    audit_key: SecretStr | None = None
    audit_checkpoint_dir: str = "./var/audit-checkpoints"
    # `darvaza audit verify` fails when an event waited longer than this for a checkpoint.
    audit_seal_max_delay_seconds: int = Field(default=300, ge=10, le=86_400)
    # How often the worker's sealer looks for new events: an event waits about this long
    # for its seal; shorter means smaller checkpoints, more of them.
    audit_seal_interval_seconds: float = Field(default=0.5, ge=0.05, le=60)

    # Mail. "files" writes .eml files under mail_dir (the default in `local`); "smtp" sends
    # through smtp_host (the default elsewhere). Mail is always sent by a job, never inside
    # a request.
    mail_backend: Literal["files", "smtp"] | None = None
    mail_dir: str = "./var/mail"
    mail_from: str = DEFAULT_MAIL_FROM
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # "starttls" upgrades a plain connection (port 587), "tls" is TLS from the start (465),
    # "none" sends in the clear (a relay on the same host only).
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Single-use tokens sent by email.
    password_reset_ttl_minutes: int = Field(default=30, ge=5, le=24 * 60)
    email_verification_ttl_hours: int = Field(default=48, ge=1, le=24 * 30)
    invitation_ttl_days: int = Field(default=7, ge=1, le=90)
    # An account whose address is not verified may sign in but not check out.
    require_verified_email_for_checkout: bool = True
    rate_limit_password_reset_per_ip: str = "10/hour"
    rate_limit_password_reset_per_email: str = "3/hour"
    # Anonymous audit events (failed sign-ins, rejected callbacks) written per client
    # address and action; past it they only reach the log lines.
    rate_limit_anonymous_audit_per_ip: str = "20/minute"

    # The worker. None means: `darvaza serve` runs one in its own process in `local` only.
    worker_in_process: bool | None = None
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    # A running job's lease; the worker renews it three times per lease. A worker that
    # stops renewing (it died) loses its jobs to the queue when the lease runs out.
    worker_lease_seconds: int = Field(default=30, ge=3, le=3600)
    # How often an idle worker looks for due jobs.
    worker_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # On SIGTERM, how long running jobs may take to finish before they go back to the queue.
    worker_shutdown_grace_seconds: int = Field(default=30, ge=0, le=3600)
    # A worker not heard from for this long is reported as gone.
    worker_stale_seconds: int = Field(default=90, ge=10, le=86_400)
    # Finished jobs (succeeded, dead, cancelled) are deleted after this many days.
    job_retention_days: int = Field(default=14, ge=1, le=3650)

    # The ops checks (`darvaza ops check`, and the worker every minute). A queued job
    # overdue this long is queue lag; dead jobs and gone workers count for this many hours.
    ops_queue_lag_seconds: int = Field(default=300, ge=10, le=86_400)
    ops_lookback_hours: int = Field(default=24, ge=1, le=24 * 30)
    # Spikes: this many rejected gateway callbacks, or failed sign-ins, within the window.
    ops_spike_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    ops_callback_rejections_threshold: int = Field(default=20, ge=1)
    ops_signin_failures_threshold: int = Field(default=50, ge=1)
    # Free space under this share of the database's or the storage folder's disk.
    ops_disk_free_percent: float = Field(default=10.0, gt=0, lt=100)
    # A stored file no item refers to is an orphan once it is this old (an upload in
    # flight writes its file before its row); the cleanup job deletes orphans.
    ops_orphan_grace_hours: int = Field(default=24, ge=1, le=24 * 365)
    # No `backup` evidence within this many hours, or no passing `restore_drill` within
    # this many days, is a finding.
    backup_max_age_hours: int = Field(default=26, ge=1, le=24 * 365)
    # Where `darvaza backup create` writes restore points (each a folder of its own).
    backup_dir: str = "./var/backups"
    # `darvaza backup prune` keeps the newest restore point of each of this many days and
    # of this many ISO weeks (the newest one always).
    backup_keep_daily: int = Field(default=7, ge=0, le=3650)
    backup_keep_weekly: int = Field(default=4, ge=0, le=520)
    # Restore points at rest: parts compressed with zstd (`none`: stored as they are) and,
    # with recipients set (age public keys, `age1...`; `darvaza backup keygen` makes a
    # pair), encrypted to every one of them. Reading one back (a deep verify, a restore, a
    # drill) needs an identity matching one recipient; it can stay off this host until then.
    backup_compression: Literal["zstd", "none"] = "zstd"
    backup_age_recipients: str = ""
    backup_age_identity: SecretStr | None = None
    restore_drill_max_age_days: int = Field(default=7, ge=1, le=365)
    # In `production`, `darvaza migrate` runs a contract or irreversible migration only
    # when a restore point of this engine is at most this many minutes old.
    migrate_backup_max_age_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    # When the worker takes the nightly restore point (then prunes by the keep settings)
    # and runs the weekly restore drill: cron expressions in UTC; empty turns one off.
    # 23:00 UTC is 02:30 in Tehran; the drill runs early on Friday, Iran's weekend.
    backup_schedule: str = "0 23 * * *"
    restore_drill_schedule: str = "0 1 * * 5"
    # The longest an acknowledgement keeps a finding quiet.
    ops_acknowledge_max_days: int = Field(default=7, ge=1, le=90)

    # Support. SLA targets per priority, in minutes: first response / resolution. The
    # clock pauses while a ticket waits on its requester.
    support_sla_minutes: str = "urgent=60/480,high=240/1440,normal=480/4320,low=1440/10080"
    # A solved ticket nobody replies to closes after this many days.
    support_close_after_days: int = Field(default=7, ge=1, le=365)
    # Support access grants: the duration asked for by default, and the longest one a
    # tenant's owner can approve (Customer Lockbox's 8 hours); an undecided request
    # lapses after `support_request_expire_hours`.
    support_grant_default_minutes: int = Field(default=120, ge=5, le=24 * 60)
    support_grant_max_minutes: int = Field(default=480, ge=5, le=7 * 24 * 60)
    support_request_expire_hours: int = Field(default=12, ge=1, le=24 * 7)

    # Incidents. How long an incident of each severity may go without a status update
    # (then it is a finding); whether public updates are mailed to the affected tenants'
    # owners; how many days a resolved incident stays on the public status page.
    incident_update_minutes: str = "SEV1=30,SEV2=60,SEV3=240,SEV4=1440"
    incident_mail_owners: bool = True
    status_page_days: int = Field(default=7, ge=1, le=90)

    # CSV exports: where their files are kept (private: served only through a link), how
    # long a finished export is kept, and how long and how often a download link works.
    export_dir: str = "./var/exports"
    export_keep_hours: int = Field(default=24, ge=1, le=24 * 30)
    export_link_ttl_seconds: int = Field(default=300, ge=10, le=24 * 3600)
    export_link_uses: int = Field(default=3, ge=1, le=100)

    # Readiness: the longest a platform admin may exempt a proof for; and where staging
    # answers (its URL, and an auditor's token there), for reports on other instances,
    # whose staging proofs read staging's own evidence.
    readiness_exemption_max_days: int = Field(default=14, ge=1, le=90)
    readiness_staging_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/.*)?$")
    readiness_staging_token: SecretStr | None = None

    # Alert routing: a YAML file of receivers and routes (docs/monitoring/alerts.example.yaml);
    # unset, findings are only shown, never sent. Webhook bodies are signed with the secret.
    alert_routes_file: str | None = None
    alert_webhook_secret: SecretStr | None = None
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    # Every `rate_limit_*` setting, by its name: a new limit cannot be left unchecked.
    @field_validator("*")
    @classmethod
    def _rate_limit_is_readable(cls, value: Any, info: ValidationInfo) -> Any:
        if not (info.field_name or "").startswith("rate_limit_"):
            return value
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"is not a rate limit like '30/minute': {exc}") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _public_url_follows_the_port(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("public_url"):
            return data
        if str(data.get("profile", Profile.LOCAL)).lower() != Profile.LOCAL.value:
            return data
        return {
            **data,
            "public_url": served_url(data.get("host", "127.0.0.1"), data.get("port", 4000)),
        }

    @field_validator("backup_schedule", "restore_drill_schedule")
    @classmethod
    def _schedule_is_cron(cls, value: str) -> str:
        if value.strip():
            try:
                CronSim(value, datetime(2000, 1, 1, tzinfo=UTC))
            except CronSimError as exc:
                raise ValueError(f"is not a cron expression like '0 23 * * *': {exc}") from None
        return value.strip()

    @field_validator("support_sla_minutes")
    @classmethod
    def _sla_is_readable(cls, value: str) -> str:
        parse_sla(value)
        return value.strip()

    @field_validator("incident_update_minutes")
    @classmethod
    def _cadence_is_readable(cls, value: str) -> str:
        parse_update_cadence(value)
        return value.strip()

    @field_validator("backup_age_recipients")
    @classmethod
    def _recipients_are_age_keys(cls, value: str) -> str:
        parse_recipients(value)
        return value.strip()

    @field_validator("backup_age_identity")
    @classmethod
    def _identity_is_an_age_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_identities(value.get_secret_value())
        return value

    @field_validator("console_time_zone")
    @classmethod
    def _time_zone_is_known(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("is not a time zone name (such as Asia/Tehran or UTC)") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_is_supported(cls, value: str) -> str:
        try:
            url = make_url(value)
        except Exception as exc:  # sqlalchemy raises ArgumentError with the raw value
            raise ValueError("is not a database URL") from exc
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @property
    def is_local(self) -> bool:
        return self.profile is Profile.LOCAL

    @property
    def database_backend(self) -> str:
        return make_url(self.database_url).get_backend_name()

    @property
    def effective_audit_key(self) -> str:
        if self.audit_key is not None:
            return self.audit_key.get_secret_value()
        return DEFAULT_AUDIT_KEY

    @property
    def effective_mail_backend(self) -> str:
        if self.mail_backend is not None:
            return self.mail_backend
        return "files" if self.is_local else "smtp"

    @property
    def worker_stale_after(self) -> timedelta:
        return timedelta(seconds=self.worker_stale_seconds)

    @property
    def runs_worker_in_process(self) -> bool:
        return self.is_local if self.worker_in_process is None else self.worker_in_process

    @property
    def cookies_secure(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return not self.is_local

    @property
    def sla_targets(self) -> dict[str, SlaTarget]:
        return parse_sla(self.support_sla_minutes)

    @property
    def incident_update_cadence(self) -> dict[str, timedelta]:
        return parse_update_cadence(self.incident_update_minutes)

    @property
    def effective_secret_key(self) -> str:
        """The key in force: the configured one, or the development default in `local`."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return DEFAULT_SECRET_KEY

    def problems(self) -> list[str]:
        """Every reason these settings are unsafe for their profile (empty when safe)."""
        from darvaza.config.safety import problems

        return problems(self)

    def masked(self) -> dict[str, Any]:
        """The effective settings with every secret masked, for printing."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********"
            elif name.endswith("_url") and isinstance(value, str):
                value = mask_url_password(value)
            elif isinstance(value, StrEnum):
                value = value.value
            shown[name] = value
        shown["cookies_secure (effective)"] = self.cookies_secure
        return shown


class SettingsError(Exception):
    """Settings that cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning pydantic's validation error into a readable list of problems."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(
            [
                f"{ENV_PREFIX}{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in exc.errors()
            ]
        ) from None


def require_safe(settings: Settings) -> None:
    """Refuse unsafe settings for the profile, naming every problem at once."""
    problems = settings.problems()
    if problems:
        raise SettingsError(problems)
