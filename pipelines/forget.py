"""`forget`: erase one member from every place this tool writes, and record it without the address.

Under the sync lock and with the warehouse held (no sync or Dagster run writes meanwhile):
1. load what a killed sync left pending (`pipelines.repair.repair`), so those rows reach the tables;
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
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipelines.config import Settings
from pipelines.errors import ConfigError
from pipelines.lock import sync_lock
from pipelines.pipeline import make_pipeline
from pipelines.privacy import Policy, member_hash
from pipelines.repair import repair
from warehouse.connection import Connection, connect, hold_for_load
from warehouse.erasure import TableErasure, erase_tables, find_member
from warehouse.erasure_files import FileErasure, erase_dlt_folder, erase_landing, scrub_folder
from warehouse.location import RAW_SCHEMA
from warehouse.private import record_erasure

log = logging.getLogger("pipelines.forget")

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
    """Erase one member (see the module docstring)."""
    if bool(email) == bool(user_id):
        raise ConfigError("forget needs exactly one of --email or --user-id")
    return forget_members(settings, [(email, user_id)], dry_run=dry_run, policy=policy, reason=reason)[0]


def forget_members(settings: Settings, members: list[tuple[str | None, str | None]], *, dry_run: bool = False,
                   policy: Policy | None = None, reason: str = "forget") -> list[ForgetReport]:
    """Erase each (email, user id) of `members` under one lock, one repair and one compaction."""
    from webhooks.config import landing_dir

    policy = policy or Policy.from_env()
    location = settings.location
    if location.embedded and not location.file.exists():
        raise ConfigError(f"no warehouse at {location.file}: nothing to forget")
    reports: list[ForgetReport] = []
    with sync_lock(settings), hold_for_load(location, memory_limit=settings.duckdb_memory_limit) as held:
        con = Connection(location, held) if location.embedded else connect(location)
        try:
            if not dry_run:  # pending packages land first, so their rows are erased with the rest
                repair(make_pipeline(settings, held), settings)
            for email, user_id in members:
                reports.append(_forget_one(con, settings, policy, email, user_id, dry_run, reason, landing_dir()))
            if location.embedded and not dry_run and reports:
                from warehouse.duck import compact_into

                compact_into(held, location.file)
        finally:
            if not location.embedded:
                con.close()
    if location.embedded and not dry_run and reports:
        from warehouse.duck import swap_compacted

        swap_compacted(location.file)
        refresh_share(location, policy)
    return reports


def refresh_share(location: Any, policy: Policy) -> None:
    """DuckDB: the analysts' share file holds copies of the models; rebuilt from the erased warehouse."""
    from warehouse.share import build_duckdb_share, share_path

    target = share_path(location.file, location.community)  # the community's own share file
    if target.exists():
        with connect(location) as con:
            build_duckdb_share(con, target, policy.share_hashed, policy.personal_fields)


def _forget_one(con: Connection, settings: Settings, policy: Policy, email: str | None, user_id: str | None,
                dry_run: bool, reason: str, landing: Any) -> ForgetReport:
    location = settings.location
    digest = policy.digest if policy.hmac_key else None
    uid, address = find_member(con, email=email, user_id=user_id, digest=digest)
    needles: dict[str, str] = {}
    if address:
        needles[address] = member_hash(policy, address)
        if digest:
            needles[digest(address)] = needles[address]
    if uid:
        needles[uid] = member_hash(policy, uid)
    report = ForgetReport(member_hash=needles[uid] if uid else needles[address or ""],
                          email_hash=member_hash(policy, address) if address else None,
                          dry_run=dry_run, tables=TableErasure())
    anonymise_only = () if policy.erase_message_text else MESSAGE_TABLES
    con.begin()
    try:
        report.tables = erase_tables(con, needles, dry_run=dry_run, anonymise_only=anonymise_only)
        report.files["dlt working folder"] = FileErasure()
        erase_dlt_folder(location.workdir, needles, report.files["dlt working folder"], dry_run=dry_run)
        report.files["webhook landing folder"] = FileErasure()
        erase_landing(landing, needles, report.files["webhook landing folder"], dry_run=dry_run)
        report.files["warehouse folder"] = FileErasure()
        scrub_folder(location.file.parent, needles, report.files["warehouse folder"], dry_run=dry_run,
                     skip=[location.workdir, landing])
        if not dry_run:
            record_erasure(con, report.member_hash, report.email_hash, reason, json.dumps(report.counts()))
    except BaseException:
        con.rollback()
        raise
    if dry_run:
        con.rollback()
    else:
        con.commit()
    return report


def erase_deleted(settings: Settings, policy: Policy | None = None) -> list[ForgetReport]:
    """`privacy.erase_deleted_after_days`: forget the members the platform deleted at least that many
    days ago (the users table's tombstones, `deleted_at`), once each; none when the setting is off."""
    policy = policy or Policy.from_env()
    days = policy.erase_deleted_after_days
    if days is None:
        return []
    location = settings.location
    if location.embedded and not location.file.exists():
        return []
    cutoff = datetime.now(UTC) - timedelta(days=days)
    with connect(location, read_only=True) as con:
        if not con.table_exists(RAW_SCHEMA, "users"):
            return []
        ids = [str(r[0]) for r in con.fetchall(
            f"SELECT _id FROM {RAW_SCHEMA}.users WHERE is_deleted AND deleted_at <= ? ORDER BY _id", [cutoff])]
    if not ids:
        return []
    reports = forget_members(settings, [(None, i) for i in ids], policy=policy,
                             reason=f"deleted over {days} days ago")
    log.info("erased %d members deleted over %d days ago", len(reports), days)
    return reports
