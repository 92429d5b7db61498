"""Test fixtures: real databases, a clean one for every test, and a real HTTP server.

Every database test runs twice: on SQLite and on PostgreSQL. PostgreSQL is found by
itself (TEST_POSTGRES_URL, default the local trust-auth server); so is Redis, for the
rate-limit tests (TEST_REDIS_URL). Where one does not answer, its half is skipped, except
under CI or TEST_REQUIRE_SERVICES=1, where that is a failure. Where one answers, a test on
it that was skipped fails the run: a suite that quietly skips PostgreSQL proves nothing
about it.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from starlette.types import ASGIApp

from darvaza.db import Database
from darvaza.migrate import upgrade_to_head
from darvaza.security.passwords import use_hasher
from tests.support.disk import small_disk  # noqa: F401 (a fixture for every test module)
from tests.support.live_server import LiveServer
from tests.support.world import Api, make_app

# Fixtures shared by several folders: a real SMTP server and an app that mails through it.
pytest_plugins = ("tests.support.mail",)

POSTGRES_URL = make_url(
    os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
)
REQUIRE_SERVICES = bool(os.environ.get("CI")) or os.environ.get("TEST_REQUIRE_SERVICES") == "1"


def _listens(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 2):
            return True
    except OSError:
        return False


POSTGRES_LISTENS = _listens(POSTGRES_URL.host or "127.0.0.1", POSTGRES_URL.port or 5432)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_redis = urlsplit(REDIS_URL)
REDIS_LISTENS = _listens(_redis.hostname or "127.0.0.1", _redis.port or 6379)
# Service -> does it answer here? A test's id names the services it ran on ("[sqlite-redis]").
SERVICES = {"postgresql": POSTGRES_LISTENS, "redis": REDIS_LISTENS}


def _service_param(name: str) -> object:
    return pytest.param(
        name,
        marks=pytest.mark.skipif(
            not SERVICES[name] and not REQUIRE_SERVICES, reason=f"{name} does not answer here"
        ),
    )


BACKENDS = ["sqlite", _service_param("postgresql")]
RATE_LIMIT_STORES = ["memory", _service_param("redis")]

_outcomes: dict[str, dict[str, int]] = {
    name: {"passed": 0, "failed": 0, "skipped": 0} for name in SERVICES
}


def _services_of(nodeid: str) -> list[str]:
    params = nodeid.rpartition("[")[2].rstrip("]").split("-") if "[" in nodeid else []
    return [name for name in SERVICES if name in params]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.skipped:
        for name in _services_of(report.nodeid):
            _outcomes[name][report.outcome] += 1


def _skipped_where_it_answers() -> list[str]:
    return [
        name
        for name, answers in SERVICES.items()
        if (answers or REQUIRE_SERVICES) and _outcomes[name]["skipped"] > 0
    ]


def _allowed_seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    return float(marker.args[0]) if marker and marker.args else 0.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests allowed the longest (their own `timeout` mark) run first, so that none of
    them starts last and keeps one worker busy after the other has finished (`make test`
    hands each worker one test at a time, `--maxschedchunk 1`, so the slow ones spread)."""
    items.sort(key=_allowed_seconds, reverse=True)  # stable: the rest keep their order


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Where PostgreSQL or Redis answers, a skipped test on it fails the whole run."""
    if getattr(session.config, "workerinput", None) is None and _skipped_where_it_answers():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, outcomes in _outcomes.items():
        counts = ", ".join(f"{n} {kind}" for kind, n in outcomes.items())
        terminalreporter.write_line(f"{name} half: {counts}")
    for name in _skipped_where_it_answers():
        terminalreporter.write_line(
            f"FAIL: {name} answers here, yet tests on it were skipped", red=True
        )


CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> None:
    """Real argon2id, at a fraction of production's memory and time: the suite hashes
    hundreds of passwords. tests/identity checks production's own parameters."""
    use_hasher(CHEAP_HASHER)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No DARVAZA_* variable or .env file from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.upper().startswith("DARVAZA_"):
            monkeypatch.delenv(name)
    # A worker started by a test would take the restore point or run the drill whose
    # slot it finds missed; the tests of those jobs turn them on.
    monkeypatch.setenv("DARVAZA_BACKUP_SCHEDULE", "")
    monkeypatch.setenv("DARVAZA_RESTORE_DRILL_SCHEDULE", "")
    monkeypatch.chdir(tmp_path)


# --- PostgreSQL: one migrated template per worker, one clone per test ---------------------


class PostgresServer:
    def __init__(self, admin_url: URL, prefix: str) -> None:
        self.admin = create_engine(
            admin_url,
            isolation_level="AUTOCOMMIT",
            pool_size=1,
            connect_args={"connect_timeout": 5},
        )
        self.admin_url = admin_url
        self.prefix = prefix
        self.template = f"{prefix}_template"
        self.created: list[str] = []

    def url_for(self, name: str) -> URL:
        return self.admin_url.set(database=name)

    def create(self, *, from_template: bool) -> URL:
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        template = f" TEMPLATE {self.template}" if from_template else ""
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{template}'))
        self.created.append(name)
        return self.url_for(name)

    def drop(self, name: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def build_template(self) -> None:
        self.drop(self.template)
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.template}"'))
        db = Database(self.url_for(self.template))
        try:
            upgrade_to_head(db)
        finally:
            db.dispose()  # a template must have no connections to be cloned


@pytest.fixture(scope="session")
def postgres(worker_id: str, testrun_uid: str) -> Iterator[PostgresServer]:
    if not POSTGRES_LISTENS:
        pytest.fail(
            f"PostgreSQL is required here (CI or TEST_REQUIRE_SERVICES) but nothing listens at "
            f"{POSTGRES_URL.host}:{POSTGRES_URL.port}"
        )
    server = PostgresServer(POSTGRES_URL, f"dz_{testrun_uid[:8]}_{worker_id}")
    try:
        server.build_template()
    except Exception as exc:
        pytest.fail(f"PostgreSQL listens at {POSTGRES_URL.host} but refused us: {exc}")
    yield server
    for name in [*server.created, server.template]:
        server.drop(name)
    server.admin.dispose()


# --- SQLite: one migrated template file per worker, one copy per test --------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db = Database(f"sqlite:///{path}")
    try:
        upgrade_to_head(db)
    finally:
        db.dispose()  # the last connection to close folds the WAL into the file
    assert not path.with_name("template.db-wal").exists()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=RATE_LIMIT_STORES)
def rate_limit_store(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings for the rate-limit store: memory, or Redis under a key prefix of its own."""
    if request.param == "memory":
        return {}
    if not REDIS_LISTENS:
        pytest.fail(f"Redis is required here (CI) but does not answer at {REDIS_URL}")
    return {"redis_url": REDIS_URL, "redis_key_prefix": f"test-{uuid.uuid4().hex}"}


def _own_database(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, *, migrated: bool
) -> Iterator[str]:
    """A database for this test alone: a copy of the migrated template, or empty."""
    if backend == "sqlite":
        path = tmp_path / ("darvaza.db" if migrated else "empty.db")
        if migrated:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create(from_template=migrated)
    yield url.render_as_string(hide_password=False)
    server.drop(url.database or "")


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of its own for this test."""
    yield from _own_database(backend, request, tmp_path, migrated=True)


@pytest.fixture
def empty_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """A database of its own with nothing in it: not even migrations."""
    yield from _own_database(backend, request, tmp_path, migrated=False)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def api(db: Database, database_url: str, serve: Callable[[ASGIApp], str]) -> Iterator[Api]:
    """The real app (rate limits out of the way) on a real server, on this test's database."""
    client = Api(serve(make_app(database_url)), db)
    yield client
    client.close()


@pytest.fixture
def serve() -> Iterator[Callable[[ASGIApp], str]]:
    """`serve(app)` runs the app in a real uvicorn server and returns its base URL."""
    servers: list[LiveServer] = []

    def start(app: ASGIApp) -> str:
        server = LiveServer(app)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
