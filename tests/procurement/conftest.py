"""Databases for the two roles: both on SQLite, or both on PostgreSQL (two databases of one cluster)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.postgres import PostgresCluster


@pytest.fixture(params=["sqlite", "postgresql"])
def db_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/issuer.db", f"sqlite:///{tmp_path}/platform.db"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    template: str = request.getfixturevalue("postgres_migrated_template")
    names = [cluster.create_database(template=template) for _ in range(2)]
    try:
        yield cluster.url(names[0]), cluster.url(names[1])
    finally:
        for name in names:
            cluster.drop_database(name)
