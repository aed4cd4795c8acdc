"""Database fixtures (a pytest plugin loaded by tests/conftest.py): one PostgreSQL cluster per run, fresh databases."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db import migrate
from baohan.adapters.db.engine import make_engine, make_session_factory
from tests.db.postgres import PostgresCluster, PostgresUnavailable, missing_binaries, start_cluster

BACKENDS = ["sqlite", "postgresql"]
MIGRATED_TEMPLATE = "baohan_migrated"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL 15 cluster for the whole run; a missing server fails the test, never skips."""
    missing = missing_binaries()
    if missing:
        pytest.fail(
            f"PostgreSQL 15 server binaries missing ({', '.join(missing)}); "
            "`make test` installs them (scripts/install-peers.sh)"
        )
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """URL of the cluster's maintenance database (superuser, loopback)."""
    return postgres_cluster.url()


@pytest.fixture(scope="session")
def postgres_migrated_template(postgres_cluster: PostgresCluster) -> str:
    """A database migrated to head once, copied by CREATE DATABASE ... TEMPLATE for each test."""
    postgres_cluster.create_database(MIGRATED_TEMPLATE)
    migrate.upgrade(postgres_cluster.url(MIGRATED_TEMPLATE))
    return MIGRATED_TEMPLATE


@contextlib.contextmanager
def _fresh_database(request: pytest.FixtureRequest, tmp_path: Path, *, migrated: bool) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'baohan.db'}"
        if migrated:
            migrate.upgrade(url)
        yield url
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    template = request.getfixturevalue("postgres_migrated_template") if migrated else None
    name = cluster.create_database(template=template)
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database migrated to head: SQLite in tmp_path, or a new PostgreSQL database."""
    with _fresh_database(request, tmp_path, migrated=True) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database with no tables at all."""
    with _fresh_database(request, tmp_path, migrated=False) as url:
        yield url


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on ``db_url``; its engine is disposed after the test."""
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()
