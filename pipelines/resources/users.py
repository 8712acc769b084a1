"""users (complete pass each run, deletions flagged), user_fields, user_field_histories."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from pipelines.completeness import Count, announced
from pipelines.context import RunContext
from pipelines.dataset import Dataset
from pipelines.declared import arrow_types, column_hints, drop_null_objects, empty_table
from pipelines.errors import ContractError, ReturningError, plural
from pipelines.prefetch import prefetched
from pipelines.resources.baseline import stamp_users_pass
from pipelines.resources.common import windowed_list, with_timestamps
from pipelines.shapes import BOOL, FLOAT, INT, TS, as_text, to_arrow
from pipelines.shards import UsersPass
from pipelines.skips import diagnose

log = logging.getLogger("pipelines.sync")
notes = logging.getLogger("pipelines.users_pass")  # the users pass's notes, printed in the sync's summary
CUSTOM_TYPES: dict[str, pa.DataType] = {"number": FLOAT, "numerical": FLOAT, "boolean": BOOL}
DELETED_AT = "deleted_at"
USER_COLUMNS = ("_id", "email", "join_date", "last_login", "is_deleted")  # what the fan-outs read
BATCH_ROWS = 1000  # users converted and handed to dlt (and the fan-outs) together


def user_fields_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    @dlt.resource(**dataset.hints(), columns=column_hints("user_fields"))
    def user_fields() -> Iterator[list[dict[str, Any]]]:
        ctx.tracker.start("user_fields")
        rows = [dict(r, defaultValue=as_text(r.get("defaultValue"))) if "defaultValue" in r else r
                for r in with_timestamps(ctx.user_fields())]
        ctx.tracker.page("user_fields", len(rows))
        yield drop_null_objects("user_fields", rows) if rows else empty_table("user_fields")

    return user_fields()


def users_schema(ctx: RunContext) -> tuple[list[str], dict[str, pa.DataType]]:
    """Fields to request (platform + every custom field key) and their Arrow types. When the field
    definitions cannot be read (a skip, pipelines/skips.py), the custom field keys are the ones
    remembered from earlier runs (none on a first run), typed as the warehouse holds them, and a
    note says so: the users load with their platform fields, never skipped for it."""
    ep = ctx.settings.endpoint("users_filter")
    platform = list(ep.options.platform_fields)
    types: dict[str, pa.DataType] = dict.fromkeys(ep.options.int_fields, INT)
    types[ep.name_for("is_deleted")] = BOOL
    # remember the custom field keys seen, so columns stay stable when labels change
    state = dlt.current.source_state().setdefault("custom_fields", {})
    definitions = _definitions(ctx)
    if definitions is None:
        custom = [key for key in state if key not in platform]
        types.update(_held_types(ctx, custom))
        return [ep.served(f) for f in platform] + custom, types
    fields_ep = ctx.settings.endpoint("user_fields")
    type_key, key_key = fields_ep.name_for("type"), fields_ep.name_for("key")
    custom = []
    for definition in definitions:
        key = definition.get(key_key)
        if isinstance(key, str) and key and key not in platform and key not in custom:
            custom.append(key)
            kind = CUSTOM_TYPES.get(str(definition.get(type_key, "")).lower())
            if kind is not None:
                types[key] = kind
            state[key] = definition.get("name")
    # asked for by the names the API serves them under; they arrive under the contract's (`arrived`)
    return [ep.served(f) for f in platform] + custom, types


def _definitions(ctx: RunContext) -> list[dict[str, Any]] | None:
    """The custom field definitions, or None when the API does not serve them to this key (what
    would skip `user_fields`; anything else, or `strict`, ends the run as before)."""
    try:
        return ctx.user_fields()
    except ReturningError as exc:
        skip = None if ctx.strict else diagnose(ctx.settings, "user_fields", exc)
        if skip is None:
            raise
        remembered = len(dlt.current.source_state().get("custom_fields", {}))
        loaded = (f"the platform fields and the {plural(remembered, 'custom field')} remembered from earlier runs"
                  if remembered else "the platform fields only (the custom field keys are unknown)")
        notes.warning("users: the custom field definitions are unavailable (%s); loaded with %s", skip.result, loaded)
        return None


def _held_types(ctx: RunContext, keys: list[str]) -> dict[str, pa.DataType]:
    """The Arrow types of the custom fields `keys` whose users columns the warehouse holds as
    numbers or booleans (columns are named as dlt normalises the keys)."""
    pipeline = ctx.pipeline()
    if pipeline is None or "users" not in pipeline.default_schema.tables:
        return {}
    schema = pipeline.default_schema
    columns = schema.get_table_columns("users")
    kinds = {"double": FLOAT, "bigint": INT, "bool": BOOL}
    out = {}
    for key in keys:
        kind = columns.get(schema.naming.normalize_identifier(key), {}).get("data_type")
        if kind in kinds:
            out[key] = kinds[kind]
    return out


def users_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    @dlt.resource(**dataset.hints())
    def users() -> Iterator[pa.Table]:
        ctx.tracker.start("users")
        stamp_users_pass(ctx)
        ep = ctx.settings.endpoint("users_filter")
        id_f, email_f, deleted_f = ep.name_for("id"), ep.name_for("email"), ep.name_for("is_deleted")
        fields, types = users_schema(ctx)

        declared = arrow_types("users")

        def convert(rows: list[dict[str, Any]]) -> pa.Table:
            table = to_arrow(rows, {**declared, **types, DELETED_AT: TS}, keys=(id_f,))
            live.append(table.column(id_f).cast(pa.string()))
            return table
        live: list[pa.ChunkedArray] = []  # the pass's ids, compact (Arrow), for the deletion check
        # the chains walk on in threads while each page is converted and fanned out
        body = {ep.name_for("fields"): fields}
        state = dlt.current.resource_state()
        # a server found ignoring the join_date filter is read as one chain for a week, then tried again
        resting = state.get("shards_off_until", "") > datetime.now(UTC).date().isoformat()
        sharded = ep.options.shards and ctx.settings.concurrency > 1 and not resting
        run = UsersPass(ctx.client, ep, body, bounds=state.get("shard_bounds")) if sharded else None
        stated: list[int | None] = []

        def walk() -> Iterator[list[dict[str, Any]]]:
            """The split pass, or one unfiltered chain: also when the answers carry no `total` (it
            is [assumed]; the split pass needs it), which shows before any page is passed on."""
            nonlocal run
            if run is not None:
                try:
                    yield from run.pages()
                    return
                except ContractError as exc:
                    total_path = getattr(ep.pagination, "total_path", None)
                    if exc.missing is None or exc.missing != total_path or run.passed_on:
                        raise
                    log.warning("users: the answers carry no '%s'; read with one unfiltered chain", total_path)
                    run = None
            yield from ctx.client.paginate("users_filter", json=body,
                                           first=lambda payload: stated.append(announced(ep, payload)))
        pages = walk()
        # deep enough that a slow first conversion (pyarrow's first arrays) or a slow dlt batch
        # does not stop the chains: 32 pages are ~6,400 members, a few MB
        depth = max(32, 4 * ctx.settings.concurrency) if ctx.settings.concurrency > 1 else 0
        held: list[dict[str, Any]] = []  # pages converted together: Arrow and dlt cost per call, not per row
        for page in prefetched(pages, depth=depth, name="returning-users"):
            for user in page:
                user.setdefault(deleted_f, False)
                user[DELETED_AT] = None
            if ctx.known_email is None:
                ctx.known_email = next((str(u[email_f]) for u in page if u.get(email_f)), None)
            ctx.tracker.page("users", len(page))
            held.extend(page)
            if len(held) >= BATCH_ROWS:
                yield convert(held)
                held = []
        if held:
            yield convert(held)
        total = run.total if run is not None else (stated[0] if stated else None)
        if total is not None:
            ctx.tracker.counts.state(Count("users", "live members", total, "is_deleted IS NOT TRUE",
                                           reason="members the users filter counts are missing from its pages"))
        if run is not None:
            if not run.complete:  # never flag deletions from a pass that may have missed members
                return
            state["shard_bounds"] = run.bounds
            if run.fell_back:
                state["shards_off_until"] = (datetime.now(UTC).date() + timedelta(days=7)).isoformat()
        ids = pa.chunked_array(live, type=pa.string()) if live else pa.chunked_array([], type=pa.string())
        yield from tombstones(ctx, pa.table({"_id": ids}))

    return users()


def tombstones(ctx: RunContext, live: pa.Table) -> Iterator[pa.Table]:
    """Users stored as live but absent from this complete pass: re-emitted with `is_deleted`
    true and `deleted_at` set, their last known values kept."""
    gone = ctx.anti_join("users", "_id", live, where="t.is_deleted IS NOT TRUE")
    if gone is None or gone.num_rows == 0:
        return
    now = datetime.now(UTC)
    gone = gone.drop_columns([c for c in gone.column_names if c.startswith("_dlt_")])
    gone = gone.cast(pa.schema([f.with_nullable(f.name != "_id") for f in gone.schema]))
    for batch in gone.to_batches(max_chunksize=5000):
        table = pa.Table.from_batches([batch])
        flagged_at = table.column(DELETED_AT).to_pylist() if DELETED_AT in table.column_names else [None] * table.num_rows
        for name, values, kind in (("is_deleted", [True] * table.num_rows, BOOL),
                                   (DELETED_AT, [t or now for t in flagged_at], TS)):
            column = pa.array(values, type=kind)
            if name in table.column_names:
                table = table.set_column(table.column_names.index(name), name, column)
            else:
                table = table.append_column(name, column)
        ctx.tracker.page("users", table.num_rows)
        yield table


def user_field_histories_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    return windowed_list(ctx, dataset, "user_field_histories", lambda page: with_timestamps(_values_as_text(page)))


def _values_as_text(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A history's values (any JSON type the field holds) as text, in place."""
    for row in page:
        for name in ("value", "previousValue"):
            if name in row:
                row[name] = as_text(row[name])
    return page
