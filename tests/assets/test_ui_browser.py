"""`dagster dev` serves the code location, and the asset graph shows the groups and assets (headless Chromium)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from assets.instance import ensure_dagster_home
from pipelines.tables import RESOURCES as RAW_TABLES
from returning_sync.commands.ui import dagster_command
from tests.simadmin import COMMUNITY_ID, FULL_KEY

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser
MODELS = ("dim_users", "fct_gamification_daily", "fct_gamification_events", "fct_redemptions",
          "user_field_changes", "community_daily_kpis", "cohort_retention")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} not up after {seconds}s")


@pytest.fixture()
def dagster_ui(sim_server: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(ensure_dagster_home(tmp_path / "dagster_home")),
           "RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": sim_server,
           "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID, "RETURNING_WAREHOUSE": str(tmp_path / "w.duckdb"),
           "DAGSTER_DISABLE_TELEMETRY": "1"}
    log = (tmp_path / "dagster_dev.log").open("w")
    proc = subprocess.Popen(dagster_command("127.0.0.1", port), cwd=PROJECT_ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/server_info", 120)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # dagster dev and the code server it started, nothing else
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)")
def test_asset_graph_lists_groups_and_assets(dagster_ui: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{dagster_ui}/asset-groups", wait_until="domcontentloaded", timeout=90_000)
            from warehouse.models import discover_models

            models = len(discover_models())
            for text in ("ingest", "models", f"{len(RAW_TABLES)} assets", f"{models} assets"):
                page.get_by_text(text).first.wait_for(timeout=90_000)
            page.screenshot(path=str(tmp_path / "asset_graph.png"), full_page=True)
            # the graph draws only what is in view; the group's list view names every asset
            page.set_viewport_size({"width": 1600, "height": 3200})
            for group, prefix, names in (("models", "analytics", MODELS), ("ingest", "returning_raw", RAW_TABLES)):
                page.goto(f"{dagster_ui}/locations/returning_sync/asset-groups/{group}/list",
                          wait_until="domcontentloaded", timeout=60_000)
                for name in names:
                    # long names are middle-truncated on screen; the row keeps the full name in the DOM
                    page.get_by_text(f"{prefix} / {name}", exact=True).first.wait_for(state="attached", timeout=60_000)
                page.screenshot(path=str(tmp_path / f"group_{group}.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "asset_graph.png").stat().st_size > 10_000
