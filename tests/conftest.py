"""Shared fixtures: the interop peers, started once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.peers import LinePeer, start_bouncycastle, start_sm_crypto

pytest_plugins = ["tests.db.fixtures"]

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(scope="session")
def bouncycastle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinePeer]:
    peer = start_bouncycastle(tmp_path_factory.mktemp("bc"))
    yield peer
    peer.close()


@pytest.fixture(scope="session")
def sm_crypto() -> Iterator[LinePeer]:
    peer = start_sm_crypto()
    yield peer
    peer.close()
