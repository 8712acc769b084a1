"""Which valid rows to send, given the ledger.

- A delta (add/subtract) belongs to the push key definition|email|period and is sent only while that key
  is neither applied, accepted (an upload the server took when it serves no job status), in flight nor
  given up: at most once, ever. A key whose upload's outcome is `unknown` (its answer lost, no job list
  to settle it) is held: never sent again until a person settles it (`push NAME --release/--confirm`).
- Overwrite columns are sent only when their values differ from the last values the server confirmed.
- A sent row always carries all of its columns (a CSV has one header): overwrite values are idempotent,
  and a delta column whose key needs nothing is sent with the value 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reverse_etl.csvfile import format_value
from reverse_etl.definitions import Definition
from reverse_etl.ledger import LedgerEntry, PlannedKey, PlannedRow
from reverse_etl.states import KeyState, RowState
from reverse_etl.validate import CheckedRow


def delta_key(definition: str, email: str, period: str | None) -> str:
    return f"{definition}|{email.strip().lower()}|{period}"


def overwrite_key(definition: str, email: str) -> str:
    return f"{definition}|{email.strip().lower()}"


@dataclass
class Plan:
    send: list[PlannedRow] = field(default_factory=list)  # CSV rows, in order
    invalid: list[PlannedRow] = field(default_factory=list)
    given_up: list[PlannedRow] = field(default_factory=list)
    unchanged: int = 0
    retries: int = 0  # rows sent again after an earlier failure
    held: int = 0  # rows whose delta is `unknown`: not sent (see the module docstring)

    @property
    def recorded_rows(self) -> list[PlannedRow]:
        return self.send + self.invalid + self.given_up


def needs(entry: LedgerEntry | None, values: dict[str, str], retries: int, kind: str) -> str:
    """"send", "retry", "done", "held" or "given_up" for one key."""
    if entry is None or entry.status == KeyState.UNSENT:
        return "send"
    if entry.status == KeyState.IN_FLIGHT:
        return "done"  # its push is still open; a run never plans while one is
    if kind == "delta":
        if entry.status in (KeyState.APPLIED, KeyState.ACCEPTED):
            return "done"
        if entry.status == KeyState.UNKNOWN:
            return "held"
        if entry.status == KeyState.GIVEN_UP:
            return "given_up"
        return "retry" if entry.attempts <= retries else "given_up"
    if entry.applied_values == values:
        return "done"
    if entry.attempt_values == values and entry.status in (KeyState.FAILED, KeyState.GIVEN_UP):
        return "retry" if entry.status == KeyState.FAILED and entry.attempts <= retries else "given_up"
    return "send"


def plan_rows(definition: Definition, checked: Sequence[CheckedRow], ledger: Mapping[str, LedgerEntry]) -> Plan:
    plan = Plan()
    deltas = definition.delta_columns
    overwrites = definition.overwrite_columns
    for row in checked:
        if not row.valid:
            plan.invalid.append(PlannedRow(None, row.email, row.period, row.values, [], RowState.INVALID.value,
                                           row.reason))
            continue
        texts = {c: format_value(v) for c, v in row.values.items()}
        candidates = [PlannedKey(delta_key(definition.name, row.email, row.period), "delta", row.email, row.period,
                                 {c: texts[c] for c in deltas})] if deltas else []
        if overwrites:
            candidates.append(PlannedKey(overwrite_key(definition.name, row.email), "overwrite", row.email, None,
                                         {c: texts[c] for c in overwrites}))
        states = [needs(ledger.get(k.push_key), k.values, definition.retries, k.kind) for k in candidates]
        keys = [k for k, state in zip(candidates, states, strict=True) if state in ("send", "retry")]
        if keys:
            values = dict(row.values)
            sent_delta = any(k.kind == "delta" for k in keys)
            if not sent_delta:
                for c in deltas:
                    values[c] = 0
            plan.send.append(PlannedRow(len(plan.send) + 1, row.email, row.period, values, keys, RowState.PENDING.value))
            if "retry" in states:
                plan.retries += 1
        elif "given_up" in states:
            last = ledger.get(delta_key(definition.name, row.email, row.period)) or ledger.get(
                overwrite_key(definition.name, row.email))
            plan.given_up.append(PlannedRow(None, row.email, row.period, row.values, [], RowState.GIVEN_UP.value,
                                            last.last_error if last else None))
        elif "held" in states:
            plan.held += 1
        else:
            plan.unchanged += 1
    return plan


__all__ = ["Plan", "delta_key", "needs", "overwrite_key", "plan_rows"]
