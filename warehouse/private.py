"""Schema `returning_private`: what only the sync's own login reads.

- `member_keys`: one row per member whose email the PII policy hashes: `email_hash` (the value the
  raw tables and models hold) -> `email`, `user_id`. Reverse ETL resolves pushes through it; the
  sync writes it after each load (`write_member_keys`).
- `erasures`: one audit row per `returning-sync forget`: `member_hash` (HMAC of the member's id),
  `email_hash` (HMAC of the address), when, and the rows or files changed per place (JSON). Never
  the address. Later syncs leave these members out (`erased_hashes`).

Written through the warehouse port (`warehouse.connection.Connection`), so the same SQL serves
DuckDB and every server; on servers the schema's rights are revoked from PUBLIC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

PRIVATE_SCHEMA = "returning_private"
MEMBER_KEYS = f"{PRIVATE_SCHEMA}.member_keys"
ERASURES = f"{PRIVATE_SCHEMA}.erasures"
BATCH = 1000
HEX64 = re.compile(r"[0-9a-f]{64}")  # an HMAC-SHA256 as the PII policy writes it

DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {PRIVATE_SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {MEMBER_KEYS} (email_hash VARCHAR PRIMARY KEY, email VARCHAR, "
    "user_id VARCHAR, updated_at TIMESTAMPTZ)",
    f"CREATE TABLE IF NOT EXISTS {ERASURES} (member_hash VARCHAR, email_hash VARCHAR, "
    "erased_at TIMESTAMPTZ, reason VARCHAR, counts VARCHAR)",
)


def ensure(con: Any) -> None:
    """The schema and its tables (a `warehouse.connection.Connection`); private on servers."""
    for statement in DDL:
        con.execute(statement)
    if con.dialect == "postgres":
        con.execute_native(f"REVOKE ALL ON SCHEMA {PRIVATE_SCHEMA} FROM PUBLIC")


def write_member_keys(con: Any, keys: Mapping[str, tuple[str, str | None]]) -> int:
    """Upsert `email_hash -> (email, user_id)`; returns the rows written."""
    if not keys:
        return 0
    ensure(con)
    now = datetime.now(UTC)
    items = list(keys.items())
    for start in range(0, len(items), BATCH):
        chunk = items[start:start + BATCH]
        hashes = [h for h, _ in chunk]
        con.execute(f"DELETE FROM {MEMBER_KEYS} WHERE email_hash IN ?", [hashes])
        values = ", ".join("(?, ?, ?, ?)" for _ in chunk)
        params: list[Any] = []
        for digest, (email, user_id) in chunk:
            params.extend([digest, email, user_id, now])
        con.execute(f"INSERT INTO {MEMBER_KEYS} (email_hash, email, user_id, updated_at) VALUES {values}", params)
    return len(items)


def erased_hashes(con: Any) -> set[str]:
    """Hashes (of ids and of addresses) of every erased member; empty before the first erasure."""
    if not con.table_exists(PRIVATE_SCHEMA, "erasures"):
        return set()
    out: set[str] = set()
    for member, email in con.fetchall(f"SELECT member_hash, email_hash FROM {ERASURES} WHERE reason <> 'dry-run'"):
        out.update(h for h in (member, email) if h)
    return out


def record_erasure(con: Any, member_hash: str, email_hash: str | None, reason: str, counts: str) -> None:
    ensure(con)
    con.execute(f"INSERT INTO {ERASURES} (member_hash, email_hash, erased_at, reason, counts) VALUES (?, ?, ?, ?, ?)",
                [member_hash, email_hash, datetime.now(UTC), reason, counts])


def lookup_email(con: Any, email_hashes: Iterable[str]) -> dict[str, str]:
    """email_hash -> email for the given hashes (those member_keys holds)."""
    wanted = list(dict.fromkeys(email_hashes))
    if not wanted or not con.table_exists(PRIVATE_SCHEMA, "member_keys"):
        return {}
    out: dict[str, str] = {}
    for start in range(0, len(wanted), BATCH):
        for digest, email in con.fetchall(f"SELECT email_hash, email FROM {MEMBER_KEYS} WHERE email_hash IN ?",
                                          [wanted[start:start + BATCH]]):
            out[str(digest)] = str(email)
    return out


def resolve_members(con: Any, rows: list[dict[str, Any]], column: str = "email") -> list[dict[str, Any]]:
    """Rows whose `column` holds email hashes (the PII policy hashes email) with the addresses back,
    from `member_keys`; rows that already hold addresses, or hashes it does not know, are unchanged."""
    hashed = [r[column] for r in rows if isinstance(r.get(column), str) and HEX64.fullmatch(r[column])]
    if not hashed:
        return rows
    emails = lookup_email(con, hashed)
    return [{**r, column: emails.get(r[column], r[column])} if r.get(column) in emails else r for r in rows]
