"""One receiver process for the request/answer tests; tests that kill or break it start their own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.webhooks.sender import Receiver, start_receiver


@pytest.fixture(scope="module")
def receiver(tmp_path_factory) -> Iterator[Receiver]:
    rec = start_receiver(tmp_path_factory.mktemp("landing"))
    try:
        yield rec
    finally:
        rec.stop()


@pytest.fixture()
def client(receiver: Receiver) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=receiver.url, timeout=10) as c:
        yield c
