"""Adding a list dataset is one declaration: a dataset declared only here (served by a small HTTP
server on loopback that the simulator knows nothing of) is a resource of the source, a warehouse
table after a sync (with its declared columns), a Dagster asset of the ingest group, a `check`
probe, a row of the docs table and an endpoint the registry overrides take."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from dagster import AssetKey

from pipelines.config import Settings
from pipelines.dataset import BIGINT, TEXT, TSTZ, Dataset, Load, Write
from pipelines.datasets import RESOURCES, SNAPSHOT_TABLES, register, registered
from pipelines.endpoint import Endpoint, marks
from pipelines.errors import ConfigError
from pipelines.pagination import MetaTotalPaginator
from pipelines.probe import probe
from pipelines.registry import build_registry
from pipelines.source import returning_ai
from pipelines.sync import run_sync
from pipelines.tables import markdown

BADGES = [{"_id": f"b{i}", "name": f"badge {i}", "points": i * 10, "createdAt": f"2026-01-0{i}T00:00:00.000Z"}
          for i in range(1, 8)]
LIMIT = 3  # the server's page size: 7 badges are 3 pages

BADGES_DATASET = Dataset(
    "badges", "each badge a member can earn (name, points)",
    Endpoint("badges", "GET", "/v1/badges", "partner", "gamification", pagination=MetaTotalPaginator(),
             page_size=LIMIT, record_fields=marks(assumed="_id name points createdAt retiredAt")),
    Load.SNAPSHOT, Write.MERGE, ("_id",),
    columns={"_id": TEXT, "name": TEXT, "points": BIGINT, "createdAt": TSTZ, "retiredAt": TSTZ},
)


class Badges(BaseHTTPRequestHandler):
    """GET /v1/badges?page=&limit=: the badges, `meta` holding page, limit and total."""

    asked: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        Badges.asked.append(self.path)
        if url.path != "/v1/badges":
            self._send(404, {"status": "error", "message": "not found"})
            return
        query = parse_qs(url.query)
        page, limit = int(query.get("page", ["1"])[0]), min(int(query.get("limit", [str(LIMIT)])[0]), LIMIT)
        rows = BADGES[(page - 1) * limit:page * limit]
        self._send(200, {"data": rows, "meta": {"page": page, "limit": limit, "total": len(BADGES)}})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        pass


@pytest.fixture()
def badges_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Badges)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Badges.asked = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture()
def badges(settings: Settings, badges_api: str) -> Iterator[Settings]:
    """The dataset registered for the test, and settings whose partner API is the badges server."""
    with registered(BADGES_DATASET):
        yield Settings.from_env(partner_url=badges_api, concurrency=2, backoff_base=0.05, backoff_max=1.0)
    assert "badges" not in RESOURCES


def test_a_declared_dataset_is_a_resource_a_table_an_asset_and_a_probe(badges: Settings, warehouse: Any) -> None:
    # a resource of the source, with the declaration's hints
    source = returning_ai(badges)
    assert "badges" in source.resources
    resource = source.resources["badges"]
    assert (resource.write_disposition, resource.compute_table_schema()["columns"]["_id"]["primary_key"]) == ("merge", True)
    assert "badges" in SNAPSHOT_TABLES and "| badges | each badge a member can earn (name, points) | badges |" in markdown()

    # a `check` probe: the first page read, the fields compared with the declared columns
    (found,) = probe(badges, ["badges"])
    assert (found.dataset, found.endpoint, found.method, found.path, found.mark, found.ok) == (
        "badges", "badges", "GET", "/v1/badges", "assumed", True)
    assert (found.seen, found.missing_fields, found.extra_fields) == (
        ["_id", "name", "points", "createdAt"], ["retiredAt"], [])

    # a table after a sync: every page walked, the declared column that no record has created too
    Badges.asked = []
    result = run_sync(badges, ["badges"])
    assert not result.skipped and result.resources["badges"].rows == len(BADGES)
    assert sorted(Badges.asked) == [f"/v1/badges?page={n}&limit={LIMIT}" for n in (1, 2, 3)]
    con = warehouse()
    try:
        rows = con.execute('SELECT _id, name, points, retired_at FROM returning_raw.badges ORDER BY _id').fetchall()
    finally:
        con.close()
    assert rows == [(b["_id"], b["name"], b["points"], None) for b in BADGES]

    # a Dagster asset of the ingest group, in the snapshot multi-asset
    from assets.ingest import build_ingest_assets

    snapshot = build_ingest_assets("duckdb").snapshot
    assert AssetKey(["returning_raw", "badges"]) in snapshot.keys
    assert snapshot.specs_by_key[AssetKey(["returning_raw", "badges"])].group_name == "ingest"


def test_a_declared_endpoint_takes_overrides_and_a_misfit_is_refused(badges: Settings) -> None:
    assert build_registry({"badges": {"page_size": 2}})["badges"].page_size == 2
    with pytest.raises(ConfigError) as err:
        build_registry({"badges": {"max_count": 5}})  # another endpoint's option
    assert str(err.value).startswith("registry override badges.max_count: unknown option")
    with pytest.raises(ValueError) as refused:
        register(BADGES_DATASET)
    assert str(refused.value) == "dataset 'badges': a dataset of that name exists"
    with pytest.raises(ValueError) as refused:
        register(Dataset("badges_again", "x", "nothing", Load.SNAPSHOT, Write.REPLACE))
    assert str(refused.value) == "dataset 'badges_again': names unknown endpoint 'nothing'"
