"""The steps every push takes, whatever its target (see `protocol.Push`): the fault hook tests use,
the query, the push id, who owns a push and whether its process may still be sending, and what a
plan counts."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import socket
import time
from typing import Any

from reverse_etl.definitions import Definition
from reverse_etl.diff import Plan
from reverse_etl.errors import QueryError
from reverse_etl.ledger import now
from reverse_etl.result import PushResult
from warehouse.connection import Connection, WarehouseQueryError
from warehouse.private import resolve_members

# test hook: "kill:<stage>" SIGKILLs this process at that stage, "pause:<stage>:<seconds>" sleeps there
FAULT_ENV = "RETURNING_PUSH_FAULT"
# A push whose process cannot be checked (another host) counts as still being sent for this long;
# after it, nothing more of it is coming.
UPLOAD_GRACE = dt.timedelta(minutes=15)


def checkpoint(stage: str) -> None:
    """Fault-injection point for crash and race tests (see FAULT_ENV); a no-op otherwise."""
    fault = os.environ.get(FAULT_ENV, "")
    if fault == f"kill:{stage}":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault.startswith(f"pause:{stage}:"):
        time.sleep(float(fault.rsplit(":", 1)[1]))


def query_rows(con: Connection, definition: Definition) -> list[dict[str, Any]]:
    """The rows of the definition's SQL; a QueryError naming the file when the warehouse refuses it."""
    try:
        # hashed emails (the PII policy) become addresses again through returning_private.member_keys
        return resolve_members(con, con.dicts(definition.sql))
    except WarehouseQueryError as exc:
        first = (str(getattr(exc, "original", exc)).strip().splitlines() or [str(exc)])[0]
        raise QueryError(f"push {definition.name}: its SQL ({definition.path.name}) failed on the warehouse: "
                         f"{first}; load the tables (and seeds) and build the models it reads first") from None


def new_push_id(name: str) -> str:
    return f"{name}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def owner() -> str:
    """This process, as a push's `owner` (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def may_still_send(push: dict[str, Any]) -> bool:
    """Whether the process that owns an open push might still be sending it."""
    created = push.get("created_at")
    if created is None or now() - created >= UPLOAD_GRACE:
        return False
    host, _, pid = str(push.get("owner") or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # cannot look: wait out the grace period
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def count(result: PushResult, total: int, plan: Plan) -> None:
    """What a plan of `total` queried rows comes to, in the run's result."""
    result.total = total
    result.held = plan.held
    result.invalid = len(plan.invalid)
    result.invalid_reasons = [f"{r.email}: {r.error}" for r in plan.invalid]
    result.given_up = len(plan.given_up)
    result.unchanged = plan.unchanged
    result.retried = plan.retries
    result.would_send = len(plan.send)
    result.changed = len(plan.send) - plan.retries


def blocked(result: PushResult) -> PushResult:
    result.state = "blocked"
    result.error = "an earlier upload of this push is still being processed; nothing new sent, run again later"
    return result
