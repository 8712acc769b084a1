"""The raw tables: one row per dlt resource of the source `returning_ai`, one table each in the
warehouse's raw schema (`warehouse.location.RAW_SCHEMA`).

Each row says what the table holds, which API endpoints its requests are charged to in the sync's
summary, how it is loaded (`Load`), its write disposition (`Write`) and primary key (API names; dlt
normalises them, `transactionId` -> `transaction_id`). The resources' decorators take their hints
from here (`Table.hints`), the Dagster assets their grouping and descriptions, and the source's
docstring table is checked against `markdown()` by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Load(StrEnum):
    INCREMENTAL = "incremental"
    SNAPSHOT = "snapshot"

    @property
    def meaning(self) -> str:
        if self is Load.INCREMENTAL:
            return "date-keyed, partitioned by day, loaded hourly"
        return "read whole, loaded daily"


class Write(StrEnum):
    MERGE = "merge"  # entities: upserted on the key
    REPLACE = "replace"  # small reference lists: replaced whole
    # immutable events merged on their key: a re-read (lookback window for late data, a record repeated
    # across pages) never duplicates them. delete-insert because dlt dedupes a load's own repeats by key
    # only with it; the rows it replaces are identical anyway
    DELETE_INSERT = "delete-insert"

    @property
    def disposition(self) -> str | dict[str, str]:
        """dlt's `write_disposition` for this write."""
        if self is Write.DELETE_INSERT:
            return {"disposition": "merge", "strategy": "delete-insert"}
        return self.value


@dataclass(frozen=True)
class Table:
    name: str
    holds: str  # one line: what a row is
    endpoints: tuple[str, ...]  # whose requests the summary charges to it (none: no API call)
    load: Load
    write: Write
    key: tuple[str, ...] = ()
    read: str = ""  # how the API is read, for the docs
    arrow: bool = False  # its rows reach dlt as Arrow tables (the big ones; their file format per destination)
    parent: str | None = None  # the resource it is a transformer of, loaded with it when it alone is asked for
    needs: str | None = None  # the dataset it reads its work from (a fan-out's users): skipped when that one is

    def hints(self) -> dict[str, Any]:
        """The table's arguments of `@dlt.resource` / `@dlt.transformer`."""
        return {"name": self.name, "write_disposition": self.write.disposition,
                "primary_key": (self.key[0] if len(self.key) == 1 else self.key) or None}


INC, SNAP = Load.INCREMENTAL, Load.SNAPSHOT
MERGE, REPLACE, DELETE_INSERT = Write.MERGE, Write.REPLACE, Write.DELETE_INSERT

TABLES: tuple[Table, ...] = (
    Table("users", "each member of the community with profile and custom fields; members the API no longer "
          "lists stay, flagged `is_deleted` / `deleted_at`", ("users_filter",), SNAP, MERGE, ("_id",),
          "complete pass", arrow=True),
    Table("user_fields", "the community's custom user field definitions (name, type, options)",
          ("user_fields",), SNAP, REPLACE, ("_id",)),
    Table("user_field_histories", "each change of a member's custom field value (previous and new value)",
          ("user_field_histories",), INC, DELETE_INSERT, ("_id",), "since the last `createdAt`"),
    Table("gamification_daily", "xp and coins each member earned per UTC day", ("activity_daily",), INC, MERGE,
          ("user_id", "date"), "per (100 users, day), from the last day", arrow=True, needs="users"),
    Table("gamification_logs", "each gamification event: the action, the xp and coins it moved, the balances after",
          ("activity_logs",), INC, DELETE_INSERT, ("_id",), "since the last `createdAt`", arrow=True),
    Table("activity_stats", "messages, replies, reactions and socials per active member and day",
          ("activity_stats",), INC, MERGE, ("user_id", "date"), "one call per member active since the last run", arrow=True, needs="users"),
    Table("loyalty_overview", "the community's daily totals: active, new and returning users, xp, coins, redemptions",
          ("loyalty_overview",), INC, MERGE, ("date",), "from the last day"),
    Table("redemption_orders", "each store redemption order with its current status",
          ("redemption_transactions",), INC, MERGE, ("transactionId",), "since the last `updatedAt`"),
    Table("redemption_statuses", "the statuses a redemption order can have (name, category, colour)",
          ("redemption_statuses",), SNAP, REPLACE),
    Table("redemption_status_history", "each status change of a redemption order (who, when, to which status)",
          ("redemption_status_history",), INC, DELETE_INSERT, ("_id",), "per changed order", parent="redemption_orders"),
    Table("purchase_histories", "each purchase with its product, voucher code and expiry",
          ("purchase_histories",), INC, MERGE, ("_id",), "newest first, down to the last `updatedAt`"),
    Table("store_products", "the store's products (price, type, stock, discount)", ("products",), SNAP, MERGE, ("_id",)),
    Table("store_categories", "the store's product categories", ("categories",), SNAP, MERGE, ("_id",)),
    Table("store_config", "the store's configuration (one row: title, currency, widget)", ("store_config",), SNAP, MERGE,
          ("_id",)),
    Table("leaderboards", "the community's leaderboards and what they rank by", ("leaderboards",), SNAP, MERGE, ("_id",)),
    Table("streaks", "the streaks members can keep (timeframe, action, active days)", ("streaks",), SNAP, MERGE, ("_id",)),
    Table("streak_logs", "each streak event of a member (started, continued, broken)", ("streak_logs",), INC, DELETE_INSERT,
          ("_id",), "since the last `createdAt`", arrow=True),
    Table("tiers", "the tiers (levels with their xp in `tiers__levels`)", ("tiers",), SNAP, REPLACE,
          (), "`data.tiers`"),
    Table("tiers_xp_settings", "the xp settings, one row: whether xp is on, and per action (`message`, `reply`, "
          "`react`, `visit`) whether it earns, how much xp and the cooldown `time`", ("tiers",), SNAP, REPLACE,
          (), "`data.xpSetting`, the same call as tiers"),
    Table("bulk_jobs", "the bulk update jobs the API ran (reverse ETL uploads) and their outcome", ("bulk_jobs",),
          SNAP, MERGE, ("jobId",)),
    Table("channels", "the community's chat channels (name, type, private)", ("channels",), SNAP, REPLACE, ("_id",)),
    Table("messages", "each chat message with its channel, member, replies and reactions", ("messages",), INC, MERGE,
          ("id",), "per channel, newest first, `count` growing (+ per member past `max_count`), down to the "
          "last `timestamp`", arrow=True, needs="channels"),
    Table("minigame_logs", "each mini-game play of a member (game, outcome, xp and coins won)", ("minigame_logs",),
          INC, DELETE_INSERT, ("_id",), "one call per member active since the last run, since the last `createdAt`", arrow=True, needs="users"),
    Table("user_game_stats", "each member's mini-game and streak stats (child tables `games`, `streaks`)",
          ("minigame_stats",), SNAP, MERGE, ("user_id",), "one call per member active since the last run", needs="users"),
    Table("webhook_events", "each event the platform pushed to the webhook receiver, once per event id", (), INC, MERGE,
          ("id",), "the receiver's landed segments (no API call; a segment is removed once its load is committed)", arrow=True),
)

BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
RESOURCES: tuple[str, ...] = tuple(BY_NAME)  # in source order
INCREMENTAL_TABLES: tuple[str, ...] = tuple(t.name for t in TABLES if t.load is Load.INCREMENTAL)
SNAPSHOT_TABLES: tuple[str, ...] = tuple(t.name for t in TABLES if t.load is Load.SNAPSHOT)
ARROW_TABLES: frozenset[str] = frozenset(t.name for t in TABLES if t.arrow)
PARENTS: dict[str, str] = {t.name: t.parent for t in TABLES if t.parent}
NEEDS: dict[str, str] = {t.name: n for t in TABLES if (n := t.needs or t.parent)}  # skipped with what it needs


def table(name: str) -> Table:
    return BY_NAME[name]


def markdown() -> str:
    """The table of tables, as the source's docstring shows it."""
    lines = ["| table | holds | read from | load | write | key |", "|---|---|---|---|---|---|"]
    for t in TABLES:
        read = "; ".join(filter(None, [", ".join(t.endpoints), t.read]))
        key = f"`({', '.join(t.key)})`" if len(t.key) > 1 else f"`{t.key[0]}`" if t.key else ""
        lines.append(f"| {t.name} | {t.holds} | {read} | {t.load} | {t.write} | {key} |")
    return "\n".join(lines)
