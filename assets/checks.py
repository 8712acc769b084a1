"""Asset checks on the warehouse: keys unique, loads fresh, row counts not collapsing, references known,
complete against the API's own counts, and the API's drift (the last two warn).

Each concern is one multi-asset check (one step, one warehouse connection) yielding a result per
table. All SQL goes through the warehouse port (DuckDB's dialect, transpiled), so the checks run on
any destination; they only read, so on a server they take no pool.
"""


import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    DagsterInstance,
    MetadataValue,
    asset_check,
    multi_asset_check,
)

from assets.automation import Switch, load_automation
from assets.ingest import COMMUNITY_METADATA, raw_key
from assets.models import model_key
from assets.partitions import CommunityPartitions, community_partitions
from assets.resources import Warehouse, configured_destination, warehouse_pool
from pipelines.tables import INCREMENTAL_TABLES, RESOURCES, TABLES
from warehouse.connection import Connection
from warehouse.location import DEFAULT_COMMUNITY, MODELS_SCHEMA, RAW_SCHEMA
from warehouse.models import discover_models

# Keys of the models (raw keys: pipelines/tables.py).
MODEL_KEYS: dict[str, tuple[str, ...]] = {
    "dim_users": ("user_id",),
    "fct_gamification_daily": ("user_id", "activity_date"),
    "fct_gamification_events": ("event_id",),
    "fct_redemptions": ("order_id",),
    "community_daily_kpis": ("activity_date",),
    "cohort_retention": ("cohort_week", "weeks_since_join"),
    "user_field_changes": ("change_id",),
}
# (table, column) -> the users column it must reference
REFERENCES: dict[tuple[str, str], str] = {
    ("redemption_orders", "user_id"): "_id",
    ("gamification_logs", "user_id"): "_id",
}
# Users deleted before the first load never appear in `users`, but their history stays readable:
# a few such rows are expected; more than this share means the users load is missing people.
ORPHAN_TOLERANCE = 0.01
ROW_COUNT_FLOOR = 0.5  # fail when a table holds less than half the rows it held at its last loads


def raw_primary_keys() -> dict[str, tuple[str, ...]]:
    """Primary key columns per raw table (pipelines/tables.py), as dlt names them in the warehouse."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    naming = NamingConvention()
    return {t.name: tuple(naming.normalize_identifier(k) for k in t.key) for t in TABLES if t.key}


def _count(con: Connection, sql: str) -> int:
    row = con.fetchone(sql)
    return int(row[0]) if row and row[0] is not None else 0


def duplicate_keys(con: Connection, schema: str, table: str, key: Sequence[str]) -> tuple[int, int]:
    """(number of key values held by more than one row, rows with a null key part)."""
    cols = ", ".join(f'"{c}"' for c in key)
    dupes = _count(con, f'SELECT count(*) FROM (SELECT {cols} FROM {schema}."{table}" GROUP BY {cols} '
                        'HAVING count(*) > 1) AS dupes')
    nulls = _count(con, f'SELECT count(*) FROM {schema}."{table}" WHERE '
                        + " OR ".join(f'"{c}" IS NULL' for c in key))
    return dupes, nulls


def _selected(context: AssetCheckExecutionContext, specs: Iterable[AssetCheckSpec]) -> Iterator[AssetCheckSpec]:
    chosen = context.selected_asset_check_keys
    for spec in specs:
        if spec.key in chosen:
            yield spec


def _unique_check(name: str, targets: Mapping[AssetKey, tuple[str, str, tuple[str, ...]]],
                  pool: str | None, parts: CommunityPartitions) -> AssetsDefinition:
    specs = [AssetCheckSpec("primary_key_unique", asset=k, description=f"no two rows share ({', '.join(v[2])})")
             for k, v in targets.items()]

    @multi_asset_check(specs=specs, name=name, can_subset=True, pool=pool)
    def _check(context: AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator[AssetCheckResult]:
        with warehouse.connection(read_only=True, community=parts.of_run(context)) as con:
            for spec in _selected(context, specs):
                schema, table, key = targets[spec.asset_key]
                if not con.table_exists(schema, table):
                    yield AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name, passed=True,
                                           metadata={"note": "table not created yet (no rows loaded)"})
                    continue
                dupes, nulls = duplicate_keys(con, schema, table, key)
                yield AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name,
                                       passed=dupes == 0 and nulls == 0,
                                       metadata={"duplicate_keys": dupes, "null_keys": nulls, "key": ", ".join(key)})

    return _check


def freshness_verdict(last_load: dt.datetime | None, now: dt.datetime, max_age: dt.timedelta) -> tuple[bool, str]:
    if last_load is None:
        return False, "never loaded"
    age = now - last_load
    return age <= max_age, f"last load {age.total_seconds() / 60:.0f} min ago (allowed {max_age.total_seconds() / 60:.0f} min)"


def schedule_interval(cron: str | None, fallback: dt.timedelta, timezone: str = "UTC") -> dt.timedelta:
    """The longest gap between two of the next few ticks of `cron` (the configured schedule)."""
    if not cron:
        return fallback
    try:
        from dagster._utils.schedules import cron_string_iterator

        ticks = cron_string_iterator(dt.datetime.now(dt.UTC).timestamp(), cron, timezone)
        times = [next(ticks) for _ in range(4)]
    except Exception:
        return fallback
    return max(b - a for a, b in zip(times, times[1:], strict=False))


def _freshness_check(parts: CommunityPartitions) -> AssetsDefinition:
    config = load_automation()
    hourly = schedule_interval(config.schedules.get("incremental_hourly", Switch("", False)).cron,
                               dt.timedelta(hours=1), config.timezone)
    daily = schedule_interval(config.schedules.get("snapshot_daily", Switch("", False)).cron,
                              dt.timedelta(days=1), config.timezone)
    allowed = {t: (hourly if t in INCREMENTAL_TABLES else daily) + config.freshness_grace for t in RESOURCES}
    specs = [AssetCheckSpec("fresh", asset=raw_key(t), description=f"last load within {allowed[t]} (schedule + grace)"
                            + (", for every community" if parts.crossed else ""))
             for t in RESOURCES]

    @multi_asset_check(specs=specs, name="raw_freshness", can_subset=True)
    def raw_freshness(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        now = dt.datetime.now(dt.UTC)
        for spec in _selected(context, specs):
            table = spec.asset_key.path[-1]
            loads = last_loads(context.instance, spec.asset_key, parts, table in INCREMENTAL_TABLES, now)
            verdicts = {slug: freshness_verdict(last, now, allowed[table]) for slug, last in loads.items()}
            stale = [slug for slug, (ok, _) in verdicts.items() if not ok]
            if not parts.crossed:
                [(ok, text)] = verdicts.values()
                [last] = loads.values()
                metadata: dict[str, Any] = {"verdict": text, "last_load": last.isoformat() if last else "never"}
            else:  # one result per table (checks are not partitioned): every community named
                metadata = {"verdict": (f"stale: {', '.join(stale)}" if stale else "every community fresh"),
                            "communities": MetadataValue.json({slug: {"verdict": text, "last_load": (
                                loads[slug].isoformat() if loads[slug] else "never")} for slug, (_, text) in verdicts.items()})}
            yield AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name, passed=not stale,
                                   severity=AssetCheckSeverity.WARN, metadata=metadata)

    return raw_freshness


def last_loads(instance: DagsterInstance, key: AssetKey, parts: CommunityPartitions, by_day: bool,
               now: dt.datetime) -> dict[str, dt.datetime | None]:
    """When `key` was last materialized, per community: with one community, its newest
    materialization; with the community dimension, each community's newest among its own partitions
    (for a day-partitioned table, its last three days': a load older than those is stale anyway)."""
    if not parts.crossed:
        event = instance.get_latest_materialization_event(key)
        return {DEFAULT_COMMUNITY: dt.datetime.fromtimestamp(event.timestamp, dt.UTC) if event else None}
    recent = [(now.date() - dt.timedelta(days=n)).isoformat() for n in range(3)]
    out: dict[str, dt.datetime | None] = {}
    for slug in parts.slugs:
        keys = [parts.day_key(slug, day) for day in recent] if by_day else [parts.whole_key(slug) or slug]
        found = instance.fetch_materializations(AssetRecordsFilter(asset_key=key, asset_partitions=keys), limit=1)
        out[slug] = dt.datetime.fromtimestamp(found.records[0].timestamp, dt.UTC) if found.records else None
    return out


def recorded_counts(context: AssetCheckExecutionContext, key: AssetKey, limit: int = 2,
                    community: str | None = None) -> list[int]:
    """`dagster/row_count` of the asset's latest materializations, newest first (`community`: only
    that community's, as their metadata names it; none named: the default community's)."""
    out = []
    cursor = None
    for _ in range(10):  # pages of the newest records, until `limit` counts of the community are found
        found = context.instance.fetch_materializations(key, limit=limit if community is None else 50, cursor=cursor)
        for record in found.records:
            mat = record.asset_materialization
            named = mat.metadata.get(COMMUNITY_METADATA) if mat else None
            if community is not None and (named.value if named else DEFAULT_COMMUNITY) != community:
                continue
            value = mat.metadata.get("dagster/row_count") if mat else None
            if value is not None:
                out.append(int(value.value))  # type: ignore[arg-type]
        if community is None or len(out) >= limit or not found.has_more:
            break
        cursor = found.cursor
    return out[:limit]


def _row_count_check(pool: str | None, parts: CommunityPartitions) -> AssetsDefinition:
    specs = [AssetCheckSpec("row_count_not_collapsing", asset=raw_key(t),
                            description=f"at least {ROW_COUNT_FLOOR:.0%} of the rows recorded at the last loads")
             for t in RESOURCES]

    @multi_asset_check(specs=specs, name="raw_row_counts", can_subset=True, pool=pool)
    def raw_row_counts(context: AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator[AssetCheckResult]:
        community = parts.of_run(context)
        with warehouse.connection(read_only=True, community=community) as con:
            for spec in _selected(context, specs):
                now = con.row_count(RAW_SCHEMA, spec.asset_key.path[-1]) or 0
                before = recorded_counts(context, spec.asset_key, community=community if parts.crossed else None)
                floor = int(max(before, default=0) * ROW_COUNT_FLOOR)
                yield AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name, passed=now >= floor,
                                       metadata={"rows": now, "recorded_at_last_loads": str(before), "floor": floor})

    return raw_row_counts


def orphans(con: Connection, table: str, column: str, users_column: str) -> int:
    return _count(con, f'SELECT count(*) FROM {RAW_SCHEMA}."{table}" t WHERE t."{column}" IS NOT NULL AND NOT EXISTS '
                       f'(SELECT 1 FROM {RAW_SCHEMA}.users u WHERE u."{users_column}" = t."{column}")')


def _reference_check(pool: str | None, parts: CommunityPartitions) -> AssetsDefinition:
    specs = [AssetCheckSpec(f"{column}_references_known_users", asset=raw_key(table),
                            additional_deps=[raw_key("users")],
                            description=f"{table}.{column} names a user in returning_raw.users (at most "
                                        f"{ORPHAN_TOLERANCE:.0%} of rows may name users deleted before the first load)")
             for table, column in REFERENCES]
    targets = {spec.key: ref for spec, ref in zip(specs, REFERENCES.items(), strict=True)}

    @multi_asset_check(specs=specs, name="raw_user_references", can_subset=True, pool=pool)
    def raw_user_references(context: AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator[AssetCheckResult]:
        with warehouse.connection(read_only=True, community=parts.of_run(context)) as con:
            for spec in _selected(context, specs):
                (table, column), users_column = targets[spec.key]
                if not (con.table_exists(RAW_SCHEMA, table) and con.table_exists(RAW_SCHEMA, "users")):
                    yield AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name, passed=True,
                                           metadata={"note": "table not loaded yet"})
                    continue
                n = orphans(con, table, column, users_column)
                total = con.row_count(RAW_SCHEMA, table) or 0
                share = n / total if total else 0.0
                yield AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name,
                                       passed=share <= ORPHAN_TOLERANCE,
                                       metadata={"rows_with_unknown_user": n, "rows": total,
                                                 "share": round(share, 5), "tolerated_share": ORPHAN_TOLERANCE})

    return raw_user_references


LIVE_VS_POLLED = """
SELECT count(*) AS events, count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM returning_raw.messages AS m WHERE m.id = e.message_id)) AS missing
FROM (
    SELECT json_extract_string(CAST(payload AS JSON), '$.data.message.id') AS message_id, created_at
    FROM returning_raw.webhook_events
    WHERE event = 'message.posted'
) AS e
WHERE e.created_at <= (SELECT max("timestamp") FROM returning_raw.messages)
"""


def _live_events_check(pool: str | None, parts: CommunityPartitions) -> AssetsDefinition:
    """Webhook `message.posted` events and the polled messages agree: every event up to the newest
    polled message names a message the poll loaded (the receiver and the poll saw the same chat)."""

    @asset_check(asset=raw_key("webhook_events"), name="message_posted_events_match_messages",
                 additional_deps=[raw_key("messages")], pool=pool,
                 description="every message.posted event up to the newest polled message is in returning_raw.messages")
    def message_posted_events_match_messages(context: AssetCheckExecutionContext,
                                             warehouse: Warehouse) -> AssetCheckResult:
        with warehouse.connection(read_only=True, community=parts.of_run(context)) as con:
            if not (con.table_exists(RAW_SCHEMA, "webhook_events") and con.table_exists(RAW_SCHEMA, "messages")):
                return AssetCheckResult(passed=True, metadata={"note": "webhook_events or messages not loaded yet"})
            events, missing = con.fetchone(LIVE_VS_POLLED) or (0, 0)
        return AssetCheckResult(passed=int(missing or 0) == 0,
                                metadata={"events_compared": int(events or 0), "missing_from_messages": int(missing or 0)})

    return message_posted_events_match_messages


COMPLETENESS = f"""
SELECT scope, server_count, held, shortfall, reason FROM {RAW_SCHEMA}._sync_completeness
WHERE dataset = ? AND load_id = (SELECT max(load_id) FROM {RAW_SCHEMA}._sync_completeness WHERE dataset = ?)
ORDER BY shortfall DESC, scope
"""
SCHEMA_CHANGES = f"""
SELECT column_name, change, before, after FROM {RAW_SCHEMA}._schema_changes
WHERE table_name = ? AND load_id = (SELECT max(load_id) FROM {RAW_SCHEMA}._dlt_loads WHERE status = 0)
ORDER BY column_name, change
"""


def _raw_table_check(check: str, name: str, description: str, pool: str | None, needs: tuple[str, ...],
                     judge: Callable[[Connection | None, str], tuple[bool, dict[str, object]]],
                     parts: CommunityPartitions) -> AssetsDefinition:
    """One warning check per raw table reading the sync's bookkeeping tables `needs` (absent: `judge`
    gets no connection): `judge` says whether the table passes and with which metadata."""
    specs = [AssetCheckSpec(check, asset=raw_key(t), description=description) for t in RESOURCES]

    @multi_asset_check(specs=specs, name=name, can_subset=True, pool=pool)
    def _check(context: AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator[AssetCheckResult]:
        with warehouse.connection(read_only=True, community=parts.of_run(context)) as con:
            kept = all(con.table_exists(RAW_SCHEMA, t) for t in needs)
            for spec in _selected(context, specs):
                passed, metadata = judge(con if kept else None, spec.asset_key.path[-1])
                yield AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name, passed=passed,
                                       severity=AssetCheckSeverity.WARN, metadata=metadata)

    return _check


def _completeness(con: Connection | None, table: str) -> tuple[bool, dict[str, object]]:
    """The newest sync's counts of a dataset (pipelines/completeness.py) against what it holds."""
    rows = con.fetchall(COMPLETENESS, [table, table]) if con else []
    if not rows:
        return True, {"note": "the API stated no count for it"}
    short = [r for r in rows if r[3]]
    return not short, {"scopes_counted": len(rows), "server_count": sum(int(r[1]) for r in rows),
                       "held": sum(int(r[2]) for r in rows), "shortfall": sum(int(r[3]) for r in rows),
                       "short_scopes": "; ".join(f"{r[0]}: {r[3]} short ({r[4]})" for r in short[:5])}


def _drift(con: Connection | None, table: str) -> tuple[bool, dict[str, object]]:
    """What the newest load found the API adding, dropping or retyping (pipelines/drift.py)."""
    rows = con.fetchall(SCHEMA_CHANGES, [table]) if con else []
    return not rows, {"changes": len(rows), "detail": "; ".join(f"{c} {k}: {b} -> {a}" for c, k, b, a in rows[:10])}


def _completeness_check(pool: str | None, parts: CommunityPartitions) -> AssetsDefinition:
    return _raw_table_check("complete_against_server_counts", "raw_completeness",
                            "the warehouse holds every record the API's own counts state "
                            "(returning_raw._sync_completeness, newest sync)", pool, ("_sync_completeness",), _completeness, parts)


def _drift_check(pool: str | None, parts: CommunityPartitions) -> AssetsDefinition:
    return _raw_table_check("schema_unchanged", "raw_schema_drift",
                            "the newest load found no field added, dropped or retyped (returning_raw._schema_changes)",
                            pool, ("_schema_changes", "_dlt_loads"), _drift, parts)


def build_checks(destination: str | None = None, parts: CommunityPartitions | None = None) -> list[AssetsDefinition]:
    """Every check; on DuckDB the warehouse readers sit in the file's pool, on a server in none. Each
    reads the schemas of its run's community (`parts`, default: as configured now)."""
    pool = warehouse_pool(None, destination or configured_destination())
    parts = parts or community_partitions()
    raw = {raw_key(t): (RAW_SCHEMA, t, pk) for t, pk in raw_primary_keys().items()}
    known_models = {m.name for m in discover_models()}
    models = {model_key(m): (MODELS_SCHEMA, m, pk) for m, pk in MODEL_KEYS.items() if m in known_models}
    unique = [_unique_check(name, targets, pool, parts) for name, targets in
              (("raw_primary_keys", raw), ("model_primary_keys", models)) if targets]
    return [
        *unique,
        _freshness_check(parts),
        _row_count_check(pool, parts),
        _reference_check(pool, parts),
        _live_events_check(pool, parts),
        _completeness_check(pool, parts),
        _drift_check(pool, parts),
    ]
