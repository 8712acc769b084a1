"""Validation of per-row pushes before anything is sent, against what the warehouse holds.

- message: the channel is in `returning_raw.channels` and takes messages (not `iframe`), the sender is a
  live member (email or username in `returning_raw.users`, not deleted), the text is not empty and at
  most the endpoint's `max_chars` (4000) long; one row per push key (channel, sender, period) and per
  text in a channel from one sender.
- redemption_status: the order is in `returning_raw.redemption_orders`, the status in
  `returning_raw.redemption_statuses` (or the API's list when the table is not loaded); one row per order.
- purchase_history: the purchase is in `returning_raw.purchase_histories` (its `_id` or ORD order id);
  8.6's rule: `voucher_code` and `voucher_expiry_date` together, or `redemption_instructions`, or all
  three; the expiry a real date (DD/MM/YYYY, or a date / YYYY-MM-DD, sent as DD/MM/YYYY); one row per
  purchase, and one purchase per voucher code of a product.

A rejected row carries its reason and is recorded as `invalid`, never sent. A check whose table is not
in the warehouse (an order table never synced) is left to the server, whose refusal is recorded per row.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reverse_etl.definitions import Definition
from reverse_etl.errors import QueryError
from reverse_etl.ledger import chunks
from reverse_etl.validate import CheckedRow, period_text
from warehouse.connection import Connection
from warehouse.location import RAW_SCHEMA

MAX_MESSAGE_CHARS = 4000
_DMY = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def message_key(definition: str, channel: str, sender: str, period: str | None) -> str:
    return f"{definition}|{channel}|{sender.strip().lower()}|{period}"


def row_key(definition: str, subject: str) -> str:
    return f"{definition}|{subject.strip()}"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value)


def _period(definition: Definition, row: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if not definition.period:
        return None, None
    if definition.period not in row:
        return None, f"the query has no period column {definition.period!r}"
    if row[definition.period] is None:
        return None, f"no period value in {definition.period!r}"
    return period_text(row[definition.period]), None


def _missing(row: Mapping[str, Any], columns: Sequence[str]) -> str | None:
    absent = [c for c in columns if c not in row]
    return f"the query has no column {absent[0]!r}" if absent else None


def _in_chunks(con: Connection, sql: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    unique = sorted({v for v in values if v is not None})
    for chunk in chunks(unique):
        out.extend(con.fetchall(sql, [list(chunk)] * sql.count("IN ?")))
    return out


def check_rows(definition: Definition, rows: Sequence[Mapping[str, Any]], con: Connection,
               statuses: Callable[[], list[dict[str, Any]] | None],
               max_chars: int = MAX_MESSAGE_CHARS) -> list[CheckedRow]:
    """Every row valid (with its push key in `extra["key"]`) or with the reason it is not."""
    if definition.target == "message":
        return _messages(definition, rows, con, max_chars)
    if definition.target == "redemption_status":
        return _statuses(definition, rows, con, statuses)
    return _purchases(definition, rows, con)


# -- message ----------------------------------------------------------------------------------------

def _messages(definition: Definition, rows: Sequence[Mapping[str, Any]], con: Connection,
              max_chars: int) -> list[CheckedRow]:
    for table in ("channels", "users"):
        if not con.table_exists(RAW_SCHEMA, table):
            raise QueryError(f"push {definition.name}: a message push checks channels and senders in "
                             f"{RAW_SCHEMA}.{table}, which is not loaded: run `returning-sync sync` first")
    channels = {str(i): str(t or "") for i, t in con.fetchall(f'SELECT _id, "type" FROM {RAW_SCHEMA}.channels')}
    senders = [_text(r.get("sender")) for r in rows]
    held = {c for c, _ in con.columns(RAW_SCHEMA, "users")}
    deleted = "coalesce(is_deleted, FALSE)" if "is_deleted" in held else "FALSE"
    # `username` is [assumed]: a users table without it matches senders by email alone
    by_name = "username" in held
    members: dict[str, tuple[str, bool]] = {}  # email lowered or username -> (email, live)
    for email, username, gone in _in_chunks(
            con, f"SELECT email, {'username' if by_name else 'NULL'}, {deleted} FROM {RAW_SCHEMA}.users "
                 f"WHERE lower(email) IN ?{' OR username IN ?' if by_name else ''}",
            [s.strip().lower() if i == 0 else s.strip() for s in senders if s for i in ((0, 1) if by_name else (0,))]):
        for name in (str(email or "").lower(), str(username or "")):
            if name and (name not in members or not gone):
                members[name] = (str(email or ""), not gone)
    out: list[CheckedRow] = []
    keys: Counter[str] = Counter()
    texts: Counter[tuple[str, str, str]] = Counter()
    staged: list[tuple[int, Mapping[str, Any], dict[str, Any], str | None, str | None, dict[str, Any]]] = []
    for i, row in enumerate(rows):
        channel, sender, text = (_text(row.get(c)) for c in ("channel_id", "sender", "message"))
        values = {"channel_id": channel, "sender": sender, "message": text}
        period, reason = _period(definition, row)
        reason = _missing(row, ("channel_id", "sender", "message")) or reason
        extra: dict[str, Any] = {}
        if reason is None:
            member = members.get((sender or "").strip().lower()) or members.get((sender or "").strip())
            if not channel:
                reason = "no channel_id"
            elif channel not in channels:
                reason = f"channel {channel!r} is not in {RAW_SCHEMA}.channels"
            elif channels[channel] == "iframe":
                reason = f"channel {channel!r} is an iframe channel and takes no messages"
            elif not sender or not sender.strip():
                reason = "no sender"
            elif member is None:
                reason = f"sender {sender!r} is not a member's email or username"
            elif not member[1]:
                reason = f"sender {sender!r} is a deleted member"
            elif text is None or not text.strip():
                reason = "the message is empty"
            elif len(text) > max_chars:
                reason = f"the message has {len(text)} characters; at most {max_chars}"
            else:
                extra = {"key": message_key(definition.name, channel, sender, period), "email": member[0]}
                keys[extra["key"]] += 1
                texts[(channel, member[0].lower(), text.strip())] += 1
        staged.append((i, row, values, period, reason, extra))
    for i, _row, values, period, reason, extra in staged:
        if reason is None and keys[extra["key"]] > 1:
            reason = f"{keys[extra['key']]} rows for one channel, sender and period (the push key)"
        elif reason is None and texts[(values["channel_id"], extra["email"].lower(), values["message"].strip())] > 1:
            reason = "the same text twice for one channel and sender"
        out.append(CheckedRow(i, str(values["sender"]), period, values, reason, extra if reason is None else {}))
    return out


# -- redemption_status ------------------------------------------------------------------------------

def _statuses(definition: Definition, rows: Sequence[Mapping[str, Any]], con: Connection,
              statuses: Callable[[], list[dict[str, Any]] | None]) -> list[CheckedRow]:
    known: list[set[str] | None] = []  # read once, when a row needs it; [None]: no list, the server checks

    def unknown(status: str) -> bool:
        if not known:
            listed = statuses()
            known.append(None if listed is None else {str(s.get("_id")) for s in listed})
        return known[0] is not None and status not in known[0]

    ids = [_text(r.get("transaction_id")) for r in rows]
    orders: set[str] | None = None
    if con.table_exists(RAW_SCHEMA, "redemption_orders"):
        orders = {str(t) for (t,) in _in_chunks(
            con, f"SELECT transaction_id FROM {RAW_SCHEMA}.redemption_orders WHERE transaction_id IN ?",
            [i.strip() for i in ids if i])}
    seen = Counter(i.strip() for i in ids if i)
    out = []
    for i, row in enumerate(rows):
        tid, status = _text(row.get("transaction_id")), _text(row.get("status_id"))
        values = {"status_id": status}
        reason = _missing(row, ("transaction_id", *definition.columns))
        if reason is None:
            if not tid or not tid.strip():
                reason = "no transaction_id"
            elif orders is not None and tid.strip() not in orders:
                reason = f"order {tid!r} is not in {RAW_SCHEMA}.redemption_orders"
            elif seen[tid.strip()] > 1:
                reason = f"{seen[tid.strip()]} rows for order {tid!r}"
            elif not status:
                reason = "no status_id"
            elif unknown(status):
                reason = f"status {status!r} is not one of the community's redemption statuses"
        subject = (tid or "").strip()
        extra = {"key": row_key(definition.name, subject)} if reason is None else {}
        out.append(CheckedRow(i, subject or str(tid), None, values, reason, extra))
    return out


# -- purchase_history -------------------------------------------------------------------------------

def expiry_text(value: Any) -> str | None:
    """A voucher expiry as 8.6's DD/MM/YYYY, or None when it is not a real date."""
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%d/%m/%Y")
    text = str(value).strip()
    m = _DMY.match(text)
    if m:
        day, month, year = (int(g) for g in m.groups())
    else:
        m = _YMD.match(text)
        if not m:
            return None
        year, month, day = (int(g) for g in m.groups())
    try:
        return dt.date(year, month, day).strftime("%d/%m/%Y")
    except ValueError:
        return None


def _voucher_reason(values: dict[str, Any]) -> str | None:
    code, expiry, instructions = (values.get(c) for c in ("voucher_code", "voucher_expiry_date",
                                                           "redemption_instructions"))
    if (code is None) != (expiry is None):
        return "voucher_code and voucher_expiry_date go together (8.6)"
    if code is None and instructions is None:
        return "nothing to send: give voucher_code with voucher_expiry_date, or redemption_instructions"
    if code is not None and not str(code).strip():
        return "voucher_code is empty"
    if expiry is not None and expiry_text(expiry) is None:
        return f"voucher_expiry_date {expiry!r} is not a date (DD/MM/YYYY)"
    return None


def _purchases(definition: Definition, rows: Sequence[Mapping[str, Any]], con: Connection) -> list[CheckedRow]:
    ids = [_text(r.get("purchase_history_id")) for r in rows]
    found: dict[str, tuple[str, str | None]] | None = None  # _id or order id -> (_id, product id)
    if con.table_exists(RAW_SCHEMA, "purchase_histories"):
        product = "product___id" if any(c == "product___id" for c, _ in con.columns(RAW_SCHEMA, "purchase_histories")) \
            else "CAST(NULL AS VARCHAR)"
        found = {}
        for pid, order, prod in _in_chunks(
                con, f"SELECT _id, order_id, {product} FROM {RAW_SCHEMA}.purchase_histories "
                     "WHERE _id IN ? OR order_id IN ?", [i.strip() for i in ids if i]):
            found[str(pid)] = found[str(order)] = (str(pid), prod)
    resolved = [found.get((i or "").strip()) if found is not None else None for i in ids]
    seen = Counter(r[0] for r in resolved if r)
    codes = Counter((r[1], str(row.get("voucher_code")).strip()) for r, row in zip(resolved, rows, strict=True)
                    if r and r[1] and row.get("voucher_code") is not None)
    out = []
    for i, row in enumerate(rows):
        pid = _text(row.get("purchase_history_id"))
        values = {c: row.get(c) for c in definition.columns}
        values = {c: (v if v is None or isinstance(v, str) else str(v)) if c != "voucher_expiry_date" else v
                  for c, v in values.items()}
        reason = _missing(row, ("purchase_history_id", *definition.columns))
        if reason is None:
            if not pid or not pid.strip():
                reason = "no purchase_history_id"
            elif found is not None and resolved[i] is None:
                reason = f"purchase history {pid!r} is not in {RAW_SCHEMA}.purchase_histories"
            elif resolved[i] is not None and seen[resolved[i][0]] > 1:
                reason = f"{seen[resolved[i][0]]} rows for purchase history {pid!r}"
            else:
                reason = _voucher_reason(values)
            if reason is None and resolved[i] and resolved[i][1] and values.get("voucher_code") is not None \
                    and codes[(resolved[i][1], str(values["voucher_code"]).strip())] > 1:
                reason = f"voucher code {values['voucher_code']!r} is given to two purchases of one product"
        if reason is None and values.get("voucher_expiry_date") is not None:
            values["voucher_expiry_date"] = expiry_text(values["voucher_expiry_date"])
        subject = (pid or "").strip()
        extra = {"key": row_key(definition.name, subject)} if reason is None else {}
        out.append(CheckedRow(i, subject or str(pid), None, values, reason, extra))
    return out
