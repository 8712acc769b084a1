"""Every model's numbers equal values computed here, independently, from the simulator's ground truth,
on DuckDB and on Postgres."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pipelines.config import Settings
from pipelines.sync import run_sync
from returning_sync.cli import main as cli_main
from tests.conftest import DESTINATIONS, SIM_SEED, SIM_USERS
from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin
from warehouse.connection import Connection, connect
from warehouse.location import WarehouseLocation
from warehouse.models import discover_models, select_models


def day(value: Any) -> dt.date:
    """A UTC day from an API timestamp, `YYYY-MM-DD` or `dd/mm/yyyy`."""
    text = str(value)
    if "/" in text:
        return dt.datetime.strptime(text, "%d/%m/%Y").date()
    if "T" in text:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC).date()
    return dt.date.fromisoformat(text[:10])


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)


def monday(d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday())


@dataclass
class Built:
    """A warehouse the shipped models were built on, from the simulator's seeded community."""

    sim: SimAdmin
    location: WarehouseLocation
    env: dict[str, str]


# the models checked here, each with what it reads (other models' numbers are tested beside their files)
CHECKED = ("dim_users", "fct_gamification_events", "fct_gamification_daily", "fct_redemptions",
           "user_field_changes", "community_daily_kpis", "cohort_retention")
SELECTION = ",".join(f"+{name}" for name in CHECKED)


def model_resources() -> list[str]:
    """The resources the checked models read (dlt child tables count as their parent)."""
    models = select_models(discover_models(), SELECTION.split(","))
    return sorted({t.split("__")[0] for m in models for t in m.raw_deps})


@pytest.fixture(scope="module", params=DESTINATIONS)
def built(request: pytest.FixtureRequest, sim_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """A fresh warehouse (a DuckDB file, or a new Postgres database) configured only by environment,
    filled by `run_sync` and built by `returning-sync models`, as a cron user would."""
    sim = SimAdmin(sim_server, seed=SIM_SEED, users=SIM_USERS)
    sim.reset()
    env = {"RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": sim.base_url,
           "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID, "RETURNING_DESTINATION": request.param,
           "RETURNING_WAREHOUSE": str(tmp_path_factory.mktemp(f"models_{request.param}") / "returning.duckdb")}
    if request.param == "postgres":
        env["DESTINATION__POSTGRES__CREDENTIALS"] = request.getfixturevalue("pg_cluster").create_database()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        run_sync(Settings.from_env(), resources=model_resources())
        assert cli_main(["models", "--select", SELECTION]) == 0
        location = WarehouseLocation.from_env()
    yield Built(sim, location, env)


@dataclass
class Warehouse:
    sim: SimAdmin
    con: Connection

    def rows(self, sql: str) -> list[dict[str, Any]]:
        return self.con.dicts(sql)


@pytest.fixture()
def wh(built: Built, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    """A read-only connection to the built warehouse; the simulator reset to the same community."""
    for key, value in built.env.items():
        monkeypatch.setenv(key, value)
    built.sim.reset()
    with connect(built.location, read_only=True) as con:
        yield Warehouse(built.sim, con)


def test_dim_users(wh: Warehouse) -> None:
    truth = {u["_id"]: u for u in wh.sim.truth_rows("users")}
    tiers = sorted(wh.sim.truth_rows("tiers"), key=lambda t: min(lv["xp"] for lv in t["levels"]))
    rank = {t["name"]: i + 1 for i, t in enumerate(tiers)}
    got = {r["user_id"]: r for r in wh.rows("select * from analytics.dim_users")}
    live = {k: v for k, v in got.items() if not v["deleted"]}
    assert set(live) == set(truth)
    for uid, u in truth.items():
        row = live[uid]
        assert (row["xp"], row["coins"], row["tier"], row["email"]) == (u["xp"], u["coins"], u["tier"], u["email"])
        assert row["tier_rank"] == rank.get(u["tier"])
        assert row["city"] == u.get("city")


def test_fct_gamification_events(wh: Warehouse) -> None:
    logs = wh.sim.truth_rows("gamification_logs")
    got = {r["event_id"]: r for r in wh.rows("select * from analytics.fct_gamification_events")}
    assert len(got) == len(logs)
    for log in logs:
        row = got[log["_id"]]
        assert (row["user_id"], row["action"], row["xp"], row["coins"]) == (log["user_id"], log["action"], log["xp"], log["coins"])
        assert row["activity_date"] == day(log["createdAt"])
        assert row["coins_spent"] == max(-log["coins"], 0) and row["coins_earned"] == max(log["coins"], 0)


def test_fct_gamification_daily(wh: Warehouse) -> None:
    daily = wh.sim.truth_rows("gamification_daily")
    events: Counter[tuple[str, dt.date]] = Counter()
    spent: Counter[tuple[str, dt.date]] = Counter()
    for log in wh.sim.truth_rows("gamification_logs"):
        key = (log["user_id"], day(log["createdAt"]))
        events[key] += 1
        spent[key] += max(-log["coins"], 0)
    got = {(r["user_id"], r["activity_date"]): r for r in wh.rows("select * from analytics.fct_gamification_daily")}
    assert len(got) == len(daily)
    for d in daily:
        key = (d["user_id"], day(d["date"]))
        row = got[key]
        assert (row["xp_earned"], row["coins_earned"]) == (d["xp"], d["coins"])
        assert (row["events"], row["coins_spent"]) == (events[key], spent[key])


def test_fct_redemptions(wh: Warehouse) -> None:
    orders = wh.sim.truth_rows("redemption_orders")
    products = {p["_id"]: p for p in wh.sim.truth_rows("store_products")}
    vouchers = {p["orderID"]: p for p in wh.sim.truth_rows("purchase_histories")}
    completed: dict[str, dt.datetime] = {}
    for change in wh.sim.truth_rows("redemption_status_history"):
        if change["category"] == "complete":
            at = ts(change["changedAt"])
            completed[change["transactionId"]] = min(at, completed.get(change["transactionId"], at))
    got = {r["order_id"]: r for r in wh.rows("select * from analytics.fct_redemptions")}
    assert len(got) == len(orders)
    fulfilled = 0
    for o in orders:
        row = got[o["transactionId"]]
        assert row["user_id"] == o["userId"] and row["status"] == o["status"]["name"]
        assert row["product_name"] == products.get(o["productId"], {}).get("name", o["productName"])
        assert row["total_price"] == o["quantity"] * o["price"]
        assert row["voucher_code"] == vouchers.get(o["transactionId"], {}).get("voucherCode")
        if o["transactionId"] in completed:
            fulfilled += 1
            hours = (completed[o["transactionId"]] - ts(o["createdAt"])).total_seconds() / 3600
            assert row["hours_to_fulfil"] == pytest.approx(hours, abs=1e-3)
        else:
            assert row["hours_to_fulfil"] is None
    assert fulfilled > 0


def test_user_field_changes(wh: Warehouse) -> None:
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for h in wh.sim.truth_rows("user_field_histories"):
        by_key[(h["userId"], h["field"])].append(h)
    expected = {}
    for changes in by_key.values():
        changes.sort(key=lambda h: (ts(h["createdAt"]), h["_id"]))
        for i, h in enumerate(changes):
            nxt = ts(changes[i + 1]["createdAt"]) if i + 1 < len(changes) else None
            expected[h["_id"]] = (ts(h["createdAt"]), nxt, nxt is None, h["value"])
    got = {r["change_id"]: r for r in wh.rows("select * from analytics.user_field_changes")}
    assert set(got) == set(expected)
    for change_id, (start, end, current, value) in expected.items():
        row = got[change_id]
        assert (row["valid_from"], row["valid_to"], row["is_current"]) == (start, end, current)
        # the raw column keeps text as text and other JSON values in their JSON spelling
        assert row["value"] == (value if value is None or isinstance(value, str) else json.dumps(value))


def _activity(wh: Warehouse) -> tuple[list[dict[str, Any]], dict[str, dt.date]]:
    logs = wh.sim.truth_rows("gamification_logs")
    joins = {u["_id"]: day(u["join_date"]) for u in wh.sim.truth_rows("users")}
    return logs, joins


def test_community_daily_kpis(wh: Warehouse) -> None:
    logs, joins = _activity(wh)
    active: dict[dt.date, set[str]] = defaultdict(set)
    earned: Counter[dt.date] = Counter()
    spent: Counter[dt.date] = Counter()
    for log in logs:
        d = day(log["createdAt"])
        active[d].add(log["user_id"])
        earned[d] += max(log["coins"], 0)
        spent[d] += max(-log["coins"], 0)
    days = set(active) | {day(r["date"]) for r in wh.sim.truth_rows("gamification_daily")}
    orders = Counter(day(o["createdAt"]) for o in wh.sim.truth_rows("redemption_orders"))
    new = Counter(joins.values())
    got = {r["activity_date"]: r for r in wh.rows("select * from analytics.community_daily_kpis")}
    assert set(got) == days
    for d in sorted(days):
        def window(n: int, d: dt.date = d) -> int:
            return len(set().union(*(active.get(d - dt.timedelta(days=i), set()) for i in range(n))))
        row = got[d]
        assert (row["dau"], row["wau"], row["mau"]) == (len(active.get(d, ())), window(7), window(30)), d
        assert row["new_users"] == new[d]
        assert row["returning_users"] == sum(1 for u in active.get(d, ()) if u in joins and joins[u] < d)
        assert (row["coins_earned"], row["coins_spent"], row["redemptions"]) == (earned[d], spent[d], orders[d])


def test_cohort_retention(wh: Warehouse) -> None:
    logs, joins = _activity(wh)
    cohort = {u: monday(j) for u, j in joins.items()}
    size = Counter(cohort.values())
    weeks: set[tuple[str, dt.date]] = {(log["user_id"], monday(day(log["createdAt"]))) for log in logs
                                       if log["user_id"] in cohort}
    active: Counter[tuple[dt.date, int]] = Counter()
    for user, week in weeks:
        if week >= cohort[user]:
            active[(cohort[user], (week - cohort[user]).days // 7)] += 1
    got = {(r["cohort_week"], r["weeks_since_join"]): r for r in wh.rows("select * from analytics.cohort_retention")}
    assert set(got) == set(active)
    for (w, n), row in got.items():
        assert row["active_users"] == active[(w, n)] and row["cohort_size"] == size[w]
        assert row["retention"] == pytest.approx(active[(w, n)] / size[w], abs=1e-4)
