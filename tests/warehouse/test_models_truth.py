"""Every model's numbers equal values computed here, independently, from the simulator's ground truth."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from typing import Any

import duckdb
import pytest

from tests.assets.conftest import Loaded


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


@pytest.fixture()
def db(loaded: Loaded) -> duckdb.DuckDBPyConnection:
    assert loaded.result.success
    con = duckdb.connect(str(loaded.warehouse), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    yield con
    con.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def test_dim_users(loaded: Loaded, db: duckdb.DuckDBPyConnection) -> None:
    truth = {u["_id"]: u for u in loaded.sim.truth_rows("users")}
    tiers = sorted(loaded.sim.truth_rows("tiers"), key=lambda t: min(lv["xp"] for lv in t["levels"]))
    rank = {t["name"]: i + 1 for i, t in enumerate(tiers)}
    got = {r["user_id"]: r for r in rows(db, "select * from analytics.dim_users")}
    live = {k: v for k, v in got.items() if not v["deleted"]}
    assert set(live) == set(truth)
    for uid, u in truth.items():
        row = live[uid]
        assert (row["xp"], row["coins"], row["tier"], row["email"]) == (u["xp"], u["coins"], u["tier"], u["email"])
        assert row["tier_rank"] == rank.get(u["tier"])
        assert row["city"] == u.get("city")


def test_fct_gamification_events(loaded: Loaded, db: duckdb.DuckDBPyConnection) -> None:
    logs = loaded.sim.truth_rows("gamification_logs")
    got = {r["event_id"]: r for r in rows(db, "select * from analytics.fct_gamification_events")}
    assert len(got) == len(logs)
    for log in logs:
        row = got[log["_id"]]
        assert (row["user_id"], row["action"], row["xp"], row["coins"]) == (log["user_id"], log["action"], log["xp"], log["coins"])
        assert row["activity_date"] == day(log["createdAt"])
        assert row["coins_spent"] == max(-log["coins"], 0) and row["coins_earned"] == max(log["coins"], 0)


def test_fct_gamification_daily(loaded: Loaded, db: duckdb.DuckDBPyConnection) -> None:
    daily = loaded.sim.truth_rows("gamification_daily")
    events: Counter[tuple[str, dt.date]] = Counter()
    spent: Counter[tuple[str, dt.date]] = Counter()
    for log in loaded.sim.truth_rows("gamification_logs"):
        key = (log["user_id"], day(log["createdAt"]))
        events[key] += 1
        spent[key] += max(-log["coins"], 0)
    got = {(r["user_id"], r["activity_date"]): r for r in rows(db, "select * from analytics.fct_gamification_daily")}
    assert len(got) == len(daily)
    for d in daily:
        key = (d["user_id"], day(d["date"]))
        row = got[key]
        assert (row["xp_earned"], row["coins_earned"]) == (d["xp"], d["coins"])
        assert (row["events"], row["coins_spent"]) == (events[key], spent[key])


def test_fct_redemptions(loaded: Loaded, db: duckdb.DuckDBPyConnection) -> None:
    orders = loaded.sim.truth_rows("redemption_orders")
    products = {p["_id"]: p for p in loaded.sim.truth_rows("store_products")}
    vouchers = {p["orderID"]: p for p in loaded.sim.truth_rows("purchase_histories")}
    completed: dict[str, dt.datetime] = {}
    for change in loaded.sim.truth_rows("redemption_status_history"):
        if change["category"] == "complete":
            at = ts(change["changedAt"])
            completed[change["transactionId"]] = min(at, completed.get(change["transactionId"], at))
    got = {r["order_id"]: r for r in rows(db, "select * from analytics.fct_redemptions")}
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


def test_user_field_changes(loaded: Loaded, db: duckdb.DuckDBPyConnection) -> None:
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for h in loaded.sim.truth_rows("user_field_histories"):
        by_key[(h["userId"], h["field"])].append(h)
    expected = {}
    for changes in by_key.values():
        changes.sort(key=lambda h: (ts(h["createdAt"]), h["_id"]))
        for i, h in enumerate(changes):
            nxt = ts(changes[i + 1]["createdAt"]) if i + 1 < len(changes) else None
            expected[h["_id"]] = (ts(h["createdAt"]), nxt, nxt is None, h["value"])
    got = {r["change_id"]: r for r in rows(db, "select * from analytics.user_field_changes")}
    assert set(got) == set(expected)
    for change_id, (start, end, current, value) in expected.items():
        row = got[change_id]
        assert (row["valid_from"], row["valid_to"], row["is_current"]) == (start, end, current)
        # the raw column keeps text as text and other JSON values in their JSON spelling
        assert row["value"] == (value if value is None or isinstance(value, str) else json.dumps(value))


def _activity(loaded: Loaded) -> tuple[list[dict[str, Any]], dict[str, dt.date]]:
    logs = loaded.sim.truth_rows("gamification_logs")
    joins = {u["_id"]: day(u["join_date"]) for u in loaded.sim.truth_rows("users")}
    return logs, joins


def test_community_daily_kpis(loaded: Loaded, db: duckdb.DuckDBPyConnection) -> None:
    logs, joins = _activity(loaded)
    active: dict[dt.date, set[str]] = defaultdict(set)
    earned: Counter[dt.date] = Counter()
    spent: Counter[dt.date] = Counter()
    for log in logs:
        d = day(log["createdAt"])
        active[d].add(log["user_id"])
        earned[d] += max(log["coins"], 0)
        spent[d] += max(-log["coins"], 0)
    days = set(active) | {day(r["date"]) for r in loaded.sim.truth_rows("gamification_daily")}
    orders = Counter(day(o["createdAt"]) for o in loaded.sim.truth_rows("redemption_orders"))
    new = Counter(joins.values())
    got = {r["activity_date"]: r for r in rows(db, "select * from analytics.community_daily_kpis")}
    assert set(got) == days
    for d in sorted(days):
        def window(n: int, d: dt.date = d) -> int:
            return len(set().union(*(active.get(d - dt.timedelta(days=i), set()) for i in range(n))))
        row = got[d]
        assert (row["dau"], row["wau"], row["mau"]) == (len(active.get(d, ())), window(7), window(30)), d
        assert row["new_users"] == new[d]
        assert row["returning_users"] == sum(1 for u in active.get(d, ()) if u in joins and joins[u] < d)
        assert (row["coins_earned"], row["coins_spent"], row["redemptions"]) == (earned[d], spent[d], orders[d])


def test_cohort_retention(loaded: Loaded, db: duckdb.DuckDBPyConnection) -> None:
    logs, joins = _activity(loaded)
    cohort = {u: monday(j) for u, j in joins.items()}
    size = Counter(cohort.values())
    weeks: set[tuple[str, dt.date]] = {(log["user_id"], monday(day(log["createdAt"]))) for log in logs
                                       if log["user_id"] in cohort}
    active: Counter[tuple[dt.date, int]] = Counter()
    for user, week in weeks:
        if week >= cohort[user]:
            active[(cohort[user], (week - cohort[user]).days // 7)] += 1
    got = {(r["cohort_week"], r["weeks_since_join"]): r for r in rows(db, "select * from analytics.cohort_retention")}
    assert set(got) == set(active)
    for (w, n), row in got.items():
        assert row["active_users"] == active[(w, n)] and row["cohort_size"] == size[w]
        assert row["retention"] == pytest.approx(active[(w, n)] / size[w], abs=1e-4)
