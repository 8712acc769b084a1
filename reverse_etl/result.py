"""What one push run reports: counts, the upload's job (CSV targets) and outcome, the files written,
warnings. For per-row targets `sent` counts the rows the server took or may have taken, `refused` the
rows it refused for the key (never sent), `skipped` the rows not sent or whose answer is still unknown."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from returning_errors import plural


@dataclass
class PushResult:
    definition: str
    dry_run: bool
    # dry_run | no_changes | completed | completed_with_errors | failed | pending | not_received | blocked
    # | accepted (the server took the upload; it serves no job status) | unknown (answer lost, not settled)
    state: str
    push_id: str | None = None
    job_id: str | None = None
    total: int = 0
    invalid: int = 0
    changed: int = 0
    retried: int = 0
    unchanged: int = 0
    given_up: int = 0
    would_send: int = 0
    sent: int = 0
    refused: int = 0  # rows whose call the server refused for the key (never counted as sent)
    success: int = 0
    failed: int = 0
    skipped: int = 0
    unconfirmed: int = 0  # rows of an accepted upload the API gives no per-row result for
    held: int = 0  # rows whose delta's earlier upload has an unknown outcome: not sent
    untracked: str | None = None  # why uploads cannot be followed to their job (no bulk-jobs list)
    csv_path: Path | None = None
    preview_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    invalid_reasons: list[str] = field(default_factory=list)
    resumed: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    exit_code: int | None = None  # set when the run ended for a reason with its own code (the key refused)

    @property
    def completion_ratio(self) -> float:
        return 1.0 if not self.sent else self.success / self.sent

    def lines(self) -> list[str]:
        head = f"{self.definition}: {'dry run' if self.dry_run else self.state}"
        out = [head,
               f"  rows: total {self.total}, changed {self.changed}, retried {self.retried}, "
               f"invalid {self.invalid}, unchanged {self.unchanged}, given up {self.given_up}, "
               f"{'would send' if self.dry_run else 'sent'} {self.would_send if self.dry_run else self.sent}"
               + (f", refused {self.refused}" if self.refused else "")]
        if not self.dry_run and self.push_id and self.sent:
            job = f", job {self.job_id}" if self.job_id else ""
            counts = (f"unconfirmed {self.unconfirmed} (accepted, unverifiable)" if self.state == "accepted"
                      else f"success {self.success}, failed {self.failed}, skipped {self.skipped}")
            out.append(f"  push {self.push_id}{job}: {counts}")
        if self.untracked:
            out.append(f"  warning: {self.untracked}")
        if self.held:
            out.append(f"  warning: {plural(self.held, 'row')} not sent: an earlier upload of theirs has an unknown "
                       "outcome (see `returning-sync push --help`: --release / --confirm)")
        for r in self.resumed:
            out.append(f"  settled earlier push {r['push_id']}: {r['state']}")
        if self.csv_path:
            out.append(f"  csv: {self.csv_path}")
        if self.preview_path:
            out.append(f"  preview (formula cells neutralised): {self.preview_path}")
        out += [f"  invalid: {r}" for r in self.invalid_reasons[:10]]
        out += [f"  warning: {w}" for w in self.warnings[:10]]
        if len(self.warnings) > 10:
            out.append(f"  ... {len(self.warnings) - 10} more warnings")
        if self.error:
            out.append(f"  error: {self.error}")
        return out
