"""`forget`: erase one member from every place this tool writes, and record it without the address.

Under the sync lock and with the warehouse held (no sync or Dagster run writes meanwhile):
1. load what a killed sync left pending (`pipelines.sync.repair`), so those rows reach the tables;
2. find the member (raw users, `returning_private.member_keys`) and the values that name them: the
   user id, the address and, with the PII policy hashing, the address's hash;
3. tables (`warehouse.erasure`): the member's rows deleted, mentions replaced by the erasure hash
   (messages keep their text unless `privacy.erase_message_text`; push keys stay claimed, hashed);
4. files (`warehouse.erasure_files`): dlt's working folder, the push files and other files in the
   warehouse folder, the webhook landing folder;
5. `returning_private.erasures` gets the audit row: hashes, time, counts per place;
6. DuckDB: the file is rewritten (`warehouse.duck.compact`), so no deleted value stays in a free block.
Later syncs leave the member out (`pipelines.privacy.Privacy.erased`). A dry run does 2-4 as counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipelines.config import Settings
from pipelines.errors import ConfigError
from pipelines.privacy import Policy, member_hash
from warehouse.connection import Connection, connect, hold_for_load
from warehouse.erasure import TableErasure, erase_tables, find_member
from warehouse.erasure_files import FileErasure, erase_dlt_folder, erase_landing, scrub_folder
from warehouse.private import record_erasure

MESSAGE_TABLES = ("returning_raw.messages", "analytics.fct_messages")


@dataclass
class ForgetReport:
    member_hash: str
    email_hash: str | None
    dry_run: bool
    tables: TableErasure
    files: dict[str, FileErasure] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        """Per place: rows deleted / anonymised, files changed. No address, no path."""
        out: dict[str, Any] = {c.place: {"deleted": c.deleted, "anonymised": c.anonymised}
                               for c in self.tables.changes.values()}
        for place, files in self.files.items():
            out[place] = files.counts()
        return out

    def lines(self) -> list[str]:
        verb = "would change" if self.dry_run else "changed"
        out = [f"member {self.member_hash[:16]}: {verb}:"]
        for change in sorted(self.tables.changes.values(), key=lambda c: c.place):
            out.append(f"  {change.place}: {change.deleted} deleted, {change.anonymised} anonymised")
        for place, files in self.files.items():
            c = files.counts()
            if any(c.values()):
                out.append(f"  {place}: {c['files_deleted']} files deleted, {c['files_rewritten']} rewritten, "
                           f"{c['lines_removed']} lines removed" + (f", {c['segments_held']} held by a live "
                                                                     "receiver (run forget again when it stops)"
                                                                     if c["segments_held"] else ""))
        if len(out) == 1:
            out.append("  nothing: no table or file holds this member")
        return out


def forget(settings: Settings, *, email: str | None = None, user_id: str | None = None, dry_run: bool = False,
           policy: Policy | None = None, reason: str = "forget") -> ForgetReport:
    from pipelines.sync import make_pipeline, repair, sync_lock
    from webhooks.config import landing_dir

    if bool(email) == bool(user_id):
        raise ConfigError("forget needs exactly one of --email or --user-id")
    policy = policy or Policy.from_env()
    location = settings.location
    if location.embedded and not location.file.exists():
        raise ConfigError(f"no warehouse at {location.file}: nothing to forget")
    with sync_lock(settings), hold_for_load(location, memory_limit=settings.duckdb_memory_limit) as held:
        con = Connection(location, held) if location.embedded else connect(location)
        try:
            if not dry_run:  # pending packages land first, so their rows are erased with the rest
                repair(make_pipeline(settings, held), settings)
            digest = policy.digest if policy.hmac_key else None
            uid, address = find_member(con, email=email, user_id=user_id, digest=digest)
            needles: dict[str, str] = {}
            if address:
                needles[address] = member_hash(policy, address)
                if digest:
                    needles[digest(address)] = needles[address]
            if uid:
                needles[uid] = member_hash(policy, uid)
            report = ForgetReport(member_hash=member_hash(policy, uid) if uid else needles[address],  # type: ignore[index]
                                  email_hash=member_hash(policy, address) if address else None,
                                  dry_run=dry_run, tables=TableErasure())
            anonymise_only = () if policy.erase_message_text else MESSAGE_TABLES
            con.begin()
            try:
                report.tables = erase_tables(con, needles, dry_run=dry_run, anonymise_only=anonymise_only)
                warehouse_folder = location.file.parent
                report.files["dlt working folder"] = FileErasure()
                erase_dlt_folder(location.workdir, needles, report.files["dlt working folder"], dry_run=dry_run)
                report.files["webhook landing folder"] = FileErasure()
                landing = landing_dir()
                erase_landing(landing, needles, report.files["webhook landing folder"], dry_run=dry_run)
                report.files["warehouse folder"] = FileErasure()
                scrub_folder(warehouse_folder, needles, report.files["warehouse folder"], dry_run=dry_run,
                             skip=[location.workdir, landing])
                if not dry_run:
                    record_erasure(con, report.member_hash, report.email_hash, reason, json.dumps(report.counts()))
            except BaseException:
                con.rollback()
                raise
            con.commit() if not dry_run else con.rollback()
            if location.embedded and not dry_run:
                from warehouse.duck import compact_into

                compact_into(held, location.file)
        finally:
            if not location.embedded:
                con.close()
    if location.embedded and not dry_run:
        from warehouse.duck import swap_compacted

        swap_compacted(location.file)
    return report
