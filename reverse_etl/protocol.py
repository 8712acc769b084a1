"""The push protocol: the order of steps every push run follows, whatever its target. Two
implementations give the steps that differ: `bulk.BulkPush` (one CSV upload, followed through the
bulk-jobs list) and `perrow.RowPush` (one API call per row).

1. `settle`: finish what earlier runs left open. One whose process may still be sending blocks this
   run (`blocked`): it never plans keys another run is sending.
2. `check`: query the definition's SQL and validate every row.
3. `plan` against the ledger. A dry run stops here, writing its files (`write_files`).
4. Claim the definition, read the ledger again, plan and record the push with every key it carries
   in flight, all in one committed transaction (`ledger`): of two runs at once, one claims and the
   other stops (`blocked`) before it plans anything.
5. `send`: send what was recorded, confirm it and record the results, ending the push and its claim.

`Push.execute` runs the steps in this order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from reverse_etl import ledger, steps
from reverse_etl.diff import Plan
from reverse_etl.ledger import ClaimTaken, LedgerEntry
from reverse_etl.pushrun import PushRun
from reverse_etl.result import PushResult
from reverse_etl.states import OPEN_STATES, PushState
from reverse_etl.validate import CheckedRow
from warehouse.connection import Connection, WarehouseConflict


class Push(ABC):
    """One run of one push definition (see the module docstring)."""

    sending: ClassVar[PushState]  # the state a recorded push with rows to send starts in

    def __init__(self, run: PushRun) -> None:
        self.run = run

    # -- the steps each target gives ----------------------------------------------------------------

    @abstractmethod
    def settle(self) -> list[dict[str, Any]]:
        """Finish the pushes earlier runs left open; each one's id and the state it ended in (an open
        state: its process may still be sending)."""

    @abstractmethod
    def check(self, con: Connection, rows: Sequence[Mapping[str, Any]]) -> list[CheckedRow]:
        """Every queried row, valid or with the reason it is not."""

    @abstractmethod
    def plan(self, checked: list[CheckedRow], entries: dict[str, LedgerEntry]) -> Plan:
        """Which valid rows to send, given the ledger `entries`."""

    @abstractmethod
    def write_files(self, plan: Plan, stem: str) -> None:
        """The files of the rows to send (the upload, the people-facing preview) under `stem`."""

    @abstractmethod
    def send(self, plan: Plan) -> None:
        """Send the recorded push, confirm it and record its results."""

    def prepare(self, plan: Plan) -> None:
        """What the send needs from the API before the claim (nothing by default)."""
        return None

    def planned(self, plan: Plan) -> None:
        """Complete the plan made under the claim (nothing by default)."""
        return None

    def file_name(self, push_id: str) -> str | None:
        """The name the server knows the push by (None: it knows none)."""
        return None

    # -- the protocol -------------------------------------------------------------------------------

    def execute(self) -> PushResult:
        run, definition, result = self.run, self.run.definition, self.run.result
        if not result.dry_run:
            result.resumed = self.settle()
            if any(r["state"] in OPEN_STATES for r in result.resumed):
                return steps.blocked(result)
        with run.db(read_only=result.dry_run) as con:
            rows = steps.query_rows(con, definition)
            checked = self.check(con, rows)
            push_id = steps.new_push_id(definition.name)
            plan = self.plan(checked, ledger.load_entries(con, definition.name))
            if result.dry_run:
                steps.count(result, len(rows), plan)
                self.write_files(plan, f"dry-run-{push_id}")
                return result
        self.prepare(plan)
        steps.checkpoint("before_claim")
        with run.db() as con:
            try:
                plan = self._claim_and_record(con, checked, len(rows), push_id)
            except ClaimTaken:
                return steps.blocked(result)
        result.push_id = push_id
        if not plan.send:
            result.state = PushState.NO_CHANGES.value
            return result
        self.send(plan)
        return result

    def _claim_and_record(self, con: Connection, checked: list[CheckedRow], total: int, push_id: str) -> Plan:
        """In one transaction: claim the definition, read the ledger, plan, write the files and record
        the push with its keys in flight. ClaimTaken when another run holds the claim."""
        definition, result = self.run.definition, self.run.result
        owner = steps.owner()
        earlier = list(result.warnings)  # from settling earlier pushes
        for attempt in range(2):
            result.warnings = list(earlier)
            try:
                with con.transaction():
                    ledger.claim(con, definition.name, push_id, owner)
                    steps.checkpoint("after_claim")
                    entries = ledger.load_entries(con, definition.name)  # read after the claim: current
                    plan = self.plan(checked, entries)
                    self.planned(plan)
                    steps.count(result, total, plan)
                    if plan.send:  # a run with nothing to send leaves no file behind
                        self.write_files(plan, push_id)
                    push = {
                        "push_id": push_id, "definition": definition.name, "target": definition.target,
                        "file_name": self.file_name(push_id),
                        "csv_path": str(result.csv_path) if result.csv_path else None,
                        "state": (self.sending if plan.send else PushState.NO_CHANGES).value,
                        "total_rows": result.total, "invalid_rows": result.invalid, "changed_rows": result.changed,
                        "sent_rows": len(plan.send), "given_up_rows": result.given_up,
                        "warnings": len(result.warnings), "owner": owner,
                    }
                    ledger.record_push(con, push, plan.recorded_rows, definition.name, entries)
                return plan
            except (ClaimTaken, WarehouseConflict):
                if attempt == 0 and ledger.drop_orphan_claim(con, definition.name):
                    continue  # a claim whose push is not open (hand edit): gone, try once more
                raise ClaimTaken(definition.name) from None
        raise ClaimTaken(definition.name)
