"""Bulk updates from CSV (contract 8): validation, row results, asynchronous application.

A job is queued on upload, moves to processing after a third of `bulk_delay_ms` of wall-clock time
and is applied (terminal) once the whole delay has passed. Jobs catch up lazily: before every API
request and admin read, so no background task is needed and results are deterministic.
"""

from __future__ import annotations

import csv
import io
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator import catalog as C
from simulator.timefmt import parse_ymd
from simulator.world import SRC_BULK, Job, World

if TYPE_CHECKING:
    from simulator.state import Sim

OPS = ("add", "subtract", "overwrite")
TERMINAL = ("completed", "completed_with_errors", "failed")
USER_TEXT = ("first_name", "last_name", "username", "display_name", "language", "tier")
INT_FIELDS = ("xp", "coins", "premium_currency")


class FileError(Exception):
    """The file as a whole cannot be processed: the job fails."""


def numeric_fields(kind: str) -> set[str]:
    if kind == "premium_currency":
        return {"premium_currency"}
    return {"xp", "coins"} | {f["field"] for f in C.CUSTOM_FIELDS if f["type"] in C.NUMERIC_TYPES}


def known_fields(kind: str) -> set[str]:
    if kind == "premium_currency":
        return {"premium_currency"}
    return numeric_fields(kind) | set(USER_TEXT) | set(C.CUSTOM_KEYS)


def parse(raw: bytes, kind: str) -> tuple[list[str], list[list[str]]]:
    """(header, data rows) after the file-level checks."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FileError(f"file is not valid UTF-8 (byte {e.start})") from None
    text = text.removeprefix("\ufeff")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or not rows[0]:
        raise FileError("file is empty: a header row is required")
    header = rows[0]
    if "email" not in header:
        raise FileError("missing email column")
    if len(set(header)) != len(header):
        raise FileError("duplicate column names in header")
    numeric = numeric_fields(kind)
    for j, col in enumerate(header):
        if col.endswith("_op") and col[:-3] in numeric and (j + 1 >= len(header) or header[j + 1] != col[:-3]):
            raise FileError(f"operator column {col} must come immediately before {col[:-3]}")
        if col in numeric and (j == 0 or header[j - 1] != f"{col}_op"):
            raise FileError(f"numeric column {col} needs {col}_op immediately before it")
    return header, rows[1:]


def _number(text: str, field: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"value for {field} is not a number: {text!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"value for {field} is not a number: {text!r}")
    if field in INT_FIELDS and not v.is_integer():
        raise ValueError(f"value for {field} is not a whole number: {text!r}")
    return v


def _custom_code(w: World, f: int, text: str) -> float:
    spec = C.CUSTOM_FIELDS[f]
    t = spec["type"]
    if t == "select":
        if text not in spec["options"]:
            raise ValueError(f"value for {spec['field']} is not one of its options: {text!r}")
        return float(w.code(text))
    if t == "boolean":
        low = text.strip().lower()
        if low not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"value for {spec['field']} is not a boolean: {text!r}")
        return 1.0 if low in ("true", "1", "yes") else 0.0
    if t == "date":
        try:
            return float(parse_ymd(text.strip()))
        except ValueError:
            raise ValueError(f"value for {spec['field']} is not a YYYY-MM-DD date: {text!r}") from None
    return float(w.code(text))


def process(w: World, job: Job) -> None:
    """Validate every row and apply the good ones at the simulated clock's time."""
    try:
        header, rows = parse(job.raw, job.kind)
    except FileError as e:
        job.status, job.error = "failed", str(e)
        return
    known, numeric = known_fields(job.kind), numeric_fields(job.kind)
    unknown = [c for c in header if c != "email" and c not in known and not (c.endswith("_op") and c[:-3] in numeric)]
    e_col = header.index("email")
    counts: dict[str, int] = {}
    for r in rows:
        if len(r) == len(header):
            key = r[e_col].strip().lower()
            counts[key] = counts.get(key, 0) + 1
    u = w.users
    log_users: list[int] = []
    log_xp: list[int] = []
    log_coins: list[int] = []
    custom: list[tuple[int, int, float]] = []
    for n, r in enumerate(rows, start=1):
        email = r[e_col] if len(r) == len(header) else (r[0] if r else "")
        detail: dict[str, Any] = {"row": n, "email": email, "status": "success", "error": None}
        job.details.append(detail)
        try:
            if not r or all(c == "" for c in r):
                detail["status"], detail["error"] = "skipped", "empty row"
                continue
            if len(r) != len(header):
                raise ValueError(f"expected {len(header)} cells, got {len(r)}")
            if unknown:
                raise ValueError(f"unknown column: {unknown[0]}")
            if counts.get(email.strip().lower(), 0) > 1:
                raise ValueError("duplicate email in file")
            i = w.find_email(email)
            if i is None:
                raise ValueError(f"unknown email: {email}")
            changes: dict[str, Any] = {}
            for j, col in enumerate(header):
                if col == "email" or col.endswith("_op") and col[:-3] in numeric:
                    continue
                value = r[j]
                if col in numeric:
                    op = r[j - 1]
                    if op == "" and value == "":
                        continue
                    if op not in OPS:
                        raise ValueError(f"bad operator for {col}: {op!r} (use add, subtract or overwrite)")
                    v = _number(value, col)
                    cur = _current_number(w, i, col)
                    new = cur + v if op == "add" else cur - v if op == "subtract" else v
                    if new < 0:
                        raise ValueError(f"result below zero for {col}: {new:g}")
                    changes[col] = new
                elif value != "":
                    if col in C.CUSTOM_KEYS:
                        changes[col] = _custom_code(w, C.CUSTOM_KEYS.index(col), value)
                    else:
                        changes[col] = value
            if not changes:
                detail["status"], detail["error"] = "skipped", "no changes"
                continue
        except ValueError as e:
            detail["status"], detail["error"] = "failed", str(e)
            continue
        dxp = int(changes.pop("xp", u["xp"][i])) - int(u["xp"][i])
        dco = int(changes.pop("coins", u["coins"][i])) - int(u["coins"][i])
        if dxp or dco:
            log_users.append(i)
            log_xp.append(dxp)
            log_coins.append(dco)
        if "premium_currency" in changes:
            u["premium"][i] = int(changes.pop("premium_currency"))
        for col, v in changes.items():
            if col in C.CUSTOM_KEYS:
                f = C.CUSTOM_KEYS.index(col)
                if u[f"c_{col}"][i] != v:
                    custom.append((i, f, float(v)))
            elif col == "tier":
                w.tier_override[i] = v
            else:
                w.overrides[(col, i)] = v
    if log_users:
        m = len(log_users)
        w.append_logs(np.array(log_users), np.full(m, w.clock_ms), np.full(m, C.A_BULK), np.array(log_xp),
                      np.array(log_coins))
    if custom:
        cu, cf, cv = zip(*custom, strict=True)
        w.set_custom(np.array(cu), np.array(cf), np.array(cv), np.full(len(cu), w.clock_ms),
                     np.full(len(cu), SRC_BULK))
    w.version += 1
    job.total_rows = job.processed_rows = len(rows)
    job.success_rows = sum(d["status"] == "success" for d in job.details)
    job.failed_rows = sum(d["status"] == "failed" for d in job.details)
    job.status = "completed_with_errors" if job.failed_rows else "completed"


def _current_number(w: World, i: int, col: str) -> float:
    u = w.users
    if col == "premium_currency":
        return float(u["premium"][i])
    if col in ("xp", "coins"):
        return float(u[col][i])
    v = float(u[f"c_{col}"][i])
    return 0.0 if v != v else v


def count_rows(raw: bytes) -> int:
    try:
        return max(0, len(list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))) - 1)
    except (UnicodeDecodeError, csv.Error):
        return 0


def tick(sim: Sim, now: float | None = None) -> None:
    """Move due jobs along: queued -> processing -> terminal (applied)."""
    now = time.monotonic() if now is None else now
    delay = sim.knobs.bulk_delay_ms / 1000
    w = sim.world
    for job in w.jobs:
        if job.status in TERMINAL:
            continue
        elapsed = now - job.wall_created
        if job.status == "queued" and elapsed >= delay / 3:
            job.status = "processing"
            job.started_ms = w.clock_ms
        if job.status == "processing" and elapsed >= delay:
            try:
                process(w, job)
            except csv.Error as e:
                job.status, job.error = "failed", f"malformed CSV: {e}"
            job.finished_ms = w.clock_ms
            job.raw = b""
