"""Erasing one member from every table this tool writes (`returning-sync forget`).

A member is known by `needles`: their user id, their address and (with the PII policy hashing) the
address's hash, each mapped to what replaces it (an erasure hash, `pipelines.privacy.member_hash`).
In every table of the tool's schemas (raw and its dlt staging copy, the models, the push ledger,
`returning_private`, the seeds):

1. rows that belong to the member, i.e. a text column equal to a needle, are deleted, with their dlt
   child rows (`_dlt_parent_id`): profile, tombstones, histories, logs, stats, orders;
2. what is left that mentions them (a message they wrote: text kept, author replaced by default; a
   push key; an event's JSON) has each needle replaced by its hash, case-insensitively. Push keys
   stay unique and claimed, so exactly-once still holds for everyone else.

Tables listed in `anonymise_only` (messages, the push ledger) are never deleted from: step 2 only.
`returning_private.erasures` (the audit) is never touched. A dry run counts and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from warehouse.connection import Connection
from warehouse.location import SHARE_SCHEMA
from warehouse.private import PRIVATE_SCHEMA

OUR_SCHEMAS = ("returning_raw", "analytics", "reverse_etl", PRIVATE_SCHEMA, "seeds")
TEXT_TYPES = ("char", "text", "string")
NEVER = {f"{PRIVATE_SCHEMA}.erasures"}


@dataclass
class TableChange:
    place: str  # schema.table
    deleted: int = 0
    anonymised: int = 0


@dataclass
class TableErasure:
    changes: dict[str, TableChange] = field(default_factory=dict)

    def add(self, place: str, *, deleted: int = 0, anonymised: int = 0) -> None:
        if deleted or anonymised:
            change = self.changes.setdefault(place, TableChange(place))
            change.deleted += deleted
            change.anonymised += anonymised


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def our_schemas(con: Connection) -> list[str]:
    """The schemas of the connection's community (as the catalog names them: `returning_raw__acme`,
    its staging `returning_raw__acme_staging`, ...); never another community's."""
    rows = con.fetchall("SELECT DISTINCT table_schema FROM information_schema.tables")
    names = [str(r[0]) for r in rows]
    return sorted(n for n in names if any(_belongs(n, con.location.schema(s)) for s in (*OUR_SCHEMAS, SHARE_SCHEMA)))


def _belongs(name: str, schema: str) -> bool:
    """`name` is `schema` or one of its own (`<schema>_staging`, `analytics_share`), not another
    community's (`returning_raw__acme`, `analytics_share__acme` are not the default community's)."""
    if name == schema:
        return True
    rest = name[len(schema) + 1:] if name.startswith(schema + "_") else None
    return rest is not None and not rest.startswith("_") and "__" not in rest


def base_tables(con: Connection, schema: str) -> list[str]:
    return [str(r[0]) for r in con.fetchall(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' "
        "ORDER BY 1", [schema])]


def text_columns(con: Connection, schema: str, table: str) -> list[str]:
    return [c for c, kind in con.columns(schema, table) if any(t in kind.lower() for t in TEXT_TYPES)]


def _equals_any(columns: Iterable[str], needles: Iterable[str]) -> str:
    values = ", ".join(lit(n.lower()) for n in needles)
    return " OR ".join(f'lower("{c}") IN ({values})' for c in columns) or "FALSE"


# a needle counts where it stands alone: not inside a longer address (`joann.lee@x` holds `ann.lee@x`)
# or id. The same classes as `warehouse.erasure_files.pattern`, without look-arounds (RE2 has none)
BEFORE, AFTER = "A-Za-z0-9._%+-", "A-Za-z0-9"


def pattern(needle: str) -> str:
    return f"(^|[^{BEFORE}]){re.escape(needle)}([^{AFTER}]|$)"


def _mentions_any(columns: Iterable[str], needles: Iterable[str]) -> str:
    tests = []
    for c in columns:
        for n in needles:
            tests.append(f'(strpos(lower("{c}"), {lit(n.lower())}) > 0 AND '
                         f"regexp_replace(\"{c}\", {lit(pattern(n))}, '', 'i') <> \"{c}\")")
    return " OR ".join(tests) or "FALSE"


def _replaced(column: str, needles: Mapping[str, str]) -> str:
    """The column with each needle replaced; twice, as adjacent mentions share the character between."""
    expr = f'"{column}"'
    for needle, replacement in sorted(needles.items(), key=lambda kv: len(kv[0]), reverse=True):
        for _ in range(2):
            rewrite = lit(r"\1" + replacement + r"\2")  # the characters around it stay
            expr = f"regexp_replace({expr}, {lit(pattern(needle))}, {rewrite}, 'gi')"
    return expr


def _children(tables: list[str], table: str) -> list[str]:
    prefix = table + "__"
    return [t for t in tables if t.startswith(prefix) and "__" not in t[len(prefix):]]


def erase_tables(con: Connection, needles: Mapping[str, str], *, dry_run: bool,
                 anonymise_only: Iterable[str] = ()) -> TableErasure:
    """Delete the member's rows and anonymise the rest (see the module docstring); counts per table."""
    keep = set(anonymise_only)
    out = TableErasure()
    for schema in our_schemas(con):
        tables = base_tables(con, schema)
        columns = {t: text_columns(con, schema, t) for t in tables}
        for table in tables:
            place = f"{schema}.{table}"
            if place in NEVER or table.startswith("_dlt") or not columns[table]:
                continue
            if place in keep or schema.startswith("reverse_etl") or _has_parent(con, schema, table):
                continue  # anonymised below; child rows go with their parents
            where = _equals_any(columns[table], needles)
            row = con.fetchone(f'SELECT count(*) FROM {schema}."{table}" WHERE {where}')
            count = int(row[0]) if row else 0
            if count:
                _delete_tree(con, schema, tables, table, f'SELECT _dlt_id FROM {schema}."{table}" WHERE {where}',
                             out, dry_run)
                if not dry_run:
                    con.execute(f'DELETE FROM {schema}."{table}" WHERE {where}')
                out.add(place, deleted=count)
        for table in tables:
            place = f"{schema}.{table}"
            if place in NEVER or not columns[table]:
                continue
            mentions = _mentions_any(columns[table], needles)
            row = con.fetchone(f'SELECT count(*) FROM {schema}."{table}" WHERE {mentions}')
            count = int(row[0]) if row else 0
            if count and not dry_run:
                sets = ", ".join(f'"{c}" = {_replaced(c, needles)}' for c in columns[table])
                con.execute(f'UPDATE {schema}."{table}" SET {sets} WHERE {mentions}')
            out.add(place, anonymised=count)
    return out


def _has_parent(con: Connection, schema: str, table: str) -> bool:
    return "__" in table and any(c == "_dlt_parent_id" for c, _ in con.columns(schema, table))


def _delete_tree(con: Connection, schema: str, tables: list[str], table: str, parent_ids: str,
                 out: TableErasure, dry_run: bool) -> None:
    """Delete the dlt child rows (and theirs) of the parent rows `parent_ids` selects."""
    for child in _children(tables, table):
        if not any(c == "_dlt_parent_id" for c, _ in con.columns(schema, child)):
            continue
        where = f"_dlt_parent_id IN ({parent_ids})"
        _delete_tree(con, schema, tables, child, f'SELECT _dlt_id FROM {schema}."{child}" WHERE {where}', out, dry_run)
        row = con.fetchone(f'SELECT count(*) FROM {schema}."{child}" WHERE {where}')
        count = int(row[0]) if row else 0
        if count and not dry_run:
            con.execute(f'DELETE FROM {schema}."{child}" WHERE {where}')
        out.add(f"{schema}.{child}", deleted=count)


def find_member(con: Connection, *, email: str | None, user_id: str | None,
                digest: Any = None) -> tuple[str | None, str | None]:
    """(user id, address) of the member, from the raw users table and `member_keys`. `digest`:
    the PII policy's hash function when it hashes email (the raw table then holds hashes)."""
    from warehouse.location import RAW_SCHEMA
    from warehouse.private import lookup_email

    has_users = con.table_exists(RAW_SCHEMA, "users")
    if email:
        email = email.strip()
        if con.table_exists(PRIVATE_SCHEMA, "member_keys"):  # the address as the API spells it (its hash)
            row = con.fetchone(f"SELECT email FROM {PRIVATE_SCHEMA}.member_keys WHERE lower(email) = ? LIMIT 1",
                               [email.lower()])
            email = str(row[0]) if row and row[0] else email
        if has_users and user_id is None:
            candidates = [email.lower()] + ([digest(email)] if digest else [])
            row = con.fetchone(f"SELECT _id FROM {RAW_SCHEMA}.users WHERE lower(email) IN ? ORDER BY 1 LIMIT 1",
                               [candidates])
            user_id = str(row[0]) if row else None
        if user_id is None and con.table_exists(PRIVATE_SCHEMA, "member_keys"):
            row = con.fetchone(f"SELECT user_id FROM {PRIVATE_SCHEMA}.member_keys WHERE lower(email) = ?", [email.lower()])
            user_id = str(row[0]) if row and row[0] else None
        return user_id, email
    if has_users and user_id:
        row = con.fetchone(f"SELECT email FROM {RAW_SCHEMA}.users WHERE _id = ? LIMIT 1", [user_id])
        found = str(row[0]) if row and row[0] else None
        if found and re.fullmatch(r"[0-9a-f]{64}", found):
            found = lookup_email(con, [found]).get(found, found)
        return user_id, found
    return user_id, None
