"""Fixtures for the simulator's own tests: the session simulator behind one shared keep-alive client.

`sim` is overridden here only to reuse one HTTP client for the admin calls: building an httpx client
(its TLS context) per admin call costs more than the reset itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import SIM_SEED, SIM_USERS
from tests.simadmin import SimAdmin
from tests.simulator.helpers import client


class _Borrowed:
    """A context manager lending the shared client without closing it."""

    def __init__(self, c: httpx.Client) -> None:
        self.c = c

    def __enter__(self) -> httpx.Client:
        return self.c

    def __exit__(self, *exc: object) -> None:
        return None


class SharedSimAdmin(SimAdmin):
    shared: httpx.Client | None = None

    def _client(self) -> Any:
        assert self.shared is not None
        return _Borrowed(self.shared)


@pytest.fixture(scope="session")
def admin_client(sim_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim_server, timeout=120) as c:
        yield c


@pytest.fixture()
def sim(sim_server: str, admin_client: httpx.Client) -> SimAdmin:
    admin = SharedSimAdmin(sim_server, seed=SIM_SEED, users=SIM_USERS)
    admin.shared = admin_client
    admin.reset()
    return admin


@pytest.fixture(scope="session")
def _api_client(sim_server: str) -> Iterator[httpx.Client]:
    with client(sim_server) as c:
        yield c


@pytest.fixture()
def api(sim: SimAdmin, _api_client: httpx.Client) -> httpx.Client:
    return _api_client
