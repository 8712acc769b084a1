"""Fixtures for the simulator's own tests: an authenticated client on the session simulator."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.simadmin import SimAdmin
from tests.simulator.helpers import client


@pytest.fixture()
def api(sim: SimAdmin) -> Iterator[httpx.Client]:
    with client(sim.base_url) as c:
        yield c
