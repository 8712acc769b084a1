"""The states the push ledger stores, as typed values (the stored strings are the enum values).

- `PushState`  `pushes.state`: where one run's push stands. Open while its outcome is not recorded.
- `RowState`   `push_rows.result`: what became of one row of a push.
- `KeyState`   `push_ledger.status`: where one push key stands across runs (see `ledger`).
"""

from __future__ import annotations

from enum import StrEnum


class PushState(StrEnum):
    UPLOADING = "uploading"  # a CSV upload recorded, its answer not yet
    QUEUED = "queued"  # the server has the upload as a job
    PROCESSING = "processing"
    SENDING = "sending"  # a per-row push whose calls are under way
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    NOT_RECEIVED = "not_received"  # the upload never reached the server: its keys are sendable again
    ACCEPTED = "accepted"  # the server took the upload and serves no job status to follow it
    UNKNOWN = "unknown"  # the upload's answer was lost and nothing can settle it: a person does
    CONFIRMED = "confirmed"  # an unknown upload a person found in the Api Log (`push --confirm`)
    RELEASED = "released"  # an unknown upload a person did not find (`push --release`)
    NO_CHANGES = "no_changes"  # a run with nothing to send


OPEN_STATES: tuple[str, ...] = tuple(s.value for s in (
    PushState.UPLOADING, PushState.QUEUED, PushState.PROCESSING, PushState.SENDING))
TERMINAL_JOB_STATES: tuple[str, ...] = tuple(s.value for s in (
    PushState.COMPLETED, PushState.COMPLETED_WITH_ERRORS, PushState.FAILED))
# a run that ends in one of these failed: exit 4 on the CLI, a failed materialisation in Dagster
FAILED_RUN_STATES: tuple[str, ...] = tuple(s.value for s in (
    PushState.NOT_RECEIVED, PushState.FAILED, PushState.UNKNOWN))


class RowState(StrEnum):
    PENDING = "pending"  # sent (or about to be), its answer not recorded
    INVALID = "invalid"  # rejected before sending
    GIVEN_UP = "given_up"  # retries used up: not sent
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"  # the bulk job skipped it
    NOT_SENT = "not_sent"  # it never reached the server
    UNKNOWN = "unknown"  # its answer was lost and nothing settled it yet
    UNCONFIRMED = "unconfirmed"  # in an accepted upload the API gives no per-row result for
    REFUSED = "refused"  # the server refused the key, not the row: never counted as sent


class KeyState(StrEnum):
    IN_FLIGHT = "in_flight"  # in a push whose outcome is not recorded yet
    APPLIED = "applied"  # its values are the last ones the server confirmed
    FAILED = "failed"  # refused for the row: retried by later runs
    GIVEN_UP = "given_up"  # retries used up
    UNSENT = "unsent"  # its push never reached the server: sendable again
    ACCEPTED = "accepted"  # in an accepted upload: kept claimed like `applied`, never sent again
    UNKNOWN = "unknown"  # its answer was lost: never sent again before it is settled
