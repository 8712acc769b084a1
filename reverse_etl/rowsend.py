"""The server side of per-row pushes: one call per row, and Get Messages to find out whether a message
whose answer was lost landed (contract 8.4: no idempotency key, no message id in the answer).

Every call goes through `pipelines.client.ReturningClient` (its rate limiter and connection pool);
writes are never retried by the client. Here a row is sent again only when the server certainly did not
take it (no connection, 429), and for the overwrites (8.5, 8.6, idempotent) after an unknown outcome too.
A message with an unknown outcome is never sent again here: it is looked for, and when not found it is
left `unknown` for a later run to look for once more.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipelines.errors import AmbiguousWriteError, ApiError, ContractError, KeyRefused, SendFailed
from reverse_etl.ledger import Outcome

REFUSED_KEY_TEXT = ("invalid token", "insufficient permission", "permission", "unauthorized", "invalid api key")
SEND_ATTEMPTS = 3  # a row the server certainly did not take is tried this often in one run


@dataclass
class Pacing:
    """Waits between tries (tests shorten them)."""

    retry: float = 0.5
    lookups: tuple[float, ...] = (0.0, 0.5, 1.5)  # Get Messages asked again after these pauses
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Stop:
    """Set when the key is refused: rows not yet sent are left unsent."""

    event: threading.Event = field(default_factory=threading.Event)
    reason: str = ""


def write(client: Any, endpoint: str, *, path_params: dict[str, Any] | None = None, json: Any = None) -> Any:
    """One never-retried write; the whole response body (Send Message's answer has no `data`)."""
    public = getattr(client, "write_payload", None)
    if public is not None:
        return public(endpoint, path_params=path_params, json=json)
    return client._write(client.settings.endpoint(endpoint), path_params, None, json)  # noqa: SLF001


def body_error(payload: Any) -> str | None:
    """The error an answer's body states, HTTP 200 or not (8.4)."""
    if not isinstance(payload, dict):
        return "the answer is not a JSON object"
    if str(payload.get("status", "")).lower() == "error" or str(
            (payload.get("meta") or {}).get("status", "")).lower() == "error":
        return str(payload.get("message") or "the server answered status error")
    return None


def _refused(text: str) -> bool:
    return any(t in text.lower() for t in REFUSED_KEY_TEXT)


def body_of(target: str, ep: Any, values: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(path parameters, JSON body) of one row's call; field names from the registry entry."""
    if target == "message":
        return None, {ep.name_for("channel_id"): values["channel_id"],
                      ep.name_for("message"): values["message"],
                      ep.name_for("sender"): values["sender"]}
    if target == "redemption_status":
        return None, {ep.name_for("transaction_id"): values["transaction_id"],
                      ep.name_for("status_id"): values["status_id"]}
    names = {"voucher_code": ep.name_for("voucher_code"),
             "voucher_expiry_date": ep.name_for("voucher_expiry_date"),
             "redemption_instructions": ep.name_for("redemption_instructions")}
    body = {names[c]: v for c, v in values.items() if c in names and v is not None}
    return {ep.name_for("id"): values["purchase_history_id"]}, body


def _confirms(target: str, payload: dict[str, Any], values: dict[str, Any]) -> str | None:
    """For the overwrites: a returned record that disagrees with what was sent."""
    data = payload.get("data")
    if not isinstance(data, dict):
        return None
    if target == "redemption_status" and data.get("statusId") not in (None, values["status_id"]):
        return f"the server answered status {data.get('statusId')!r}, not {values['status_id']!r}"
    if target == "purchase_history" and values.get("voucher_code") is not None \
            and data.get("voucherCode") not in (None, values["voucher_code"]):
        return f"the server answered voucher {data.get('voucherCode')!r}"
    return None


def send_row(client: Any, target: str, endpoint: str, values: dict[str, Any], stop: Stop, pacing: Pacing,
             find: Callable[[], bool] | None = None) -> Outcome:
    """One row's call; see the module docstring. `find` (messages) says whether it landed."""
    ep = client.settings.endpoint(endpoint)
    path_params, body = body_of(target, ep, values)
    problem = ""
    for attempt in range(SEND_ATTEMPTS):
        if stop.event.is_set():
            return Outcome("unsent", f"not sent: {stop.reason}")
        if attempt:
            pacing.sleep(pacing.retry * attempt)
        try:
            payload = write(client, endpoint, path_params=path_params, json=body)
        except KeyRefused as exc:
            return Outcome("refused", str(exc), fatal=True)
        except SendFailed as exc:
            problem = str(exc)
            continue  # nothing reached the server
        except ApiError as exc:
            if exc.status == 429:
                problem = str(exc)
                continue  # not processed; the limiter now holds every thread until Retry-After
            return Outcome("failed", str(exc))
        except (AmbiguousWriteError, ContractError) as exc:
            if find is None:  # an overwrite: sending it again is harmless
                problem = str(exc)
                continue
            return looked_up(find, str(exc), pacing)
        error = body_error(payload)
        if error is not None:
            text = f"{endpoint} answered HTTP 200 with status error: {error}"
            if _refused(error):  # the key, not the row: nothing was taken, the row stays to send
                return Outcome("refused", text, fatal=True)
            return Outcome("failed", text)
        mismatch = _confirms(target, payload, values)
        if mismatch:
            return Outcome("failed", mismatch)
        return Outcome("success")
    if find is None and problem and "outcome is unknown" in problem:
        return Outcome("failed", problem)
    return Outcome("unsent", problem or "not sent")


def looked_up(find: Callable[[], bool], problem: str, pacing: Pacing) -> Outcome:
    """After an unknown outcome: Get Messages, asked a few times."""
    for pause in pacing.lookups:
        if pause:
            pacing.sleep(pause)
        try:
            if find():
                return Outcome("success", note=f"answer lost ({problem}); found through Get Messages")
        except Exception as exc:  # noqa: BLE001 - a failed look-up leaves it unknown, never resent
            problem = f"{problem}; Get Messages failed: {exc}"
    return Outcome("unknown", f"outcome unknown ({problem}) and not found through Get Messages yet; "
                              "a later run looks again before sending it")


# -- Get Messages (7.15) ----------------------------------------------------------------------------

def parse_ts(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        ts = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def _messages(client: Any, channel: str, email: str | None, count: int) -> tuple[list[dict[str, Any]], int | None]:
    ep = client.settings.endpoint("messages")
    params: dict[str, Any] = {ep.name_for("channel_id"): channel, ep.name_for("count"): count}
    if email:
        params[ep.name_for("email")] = email
    payload = client.read_payload("messages", params=params)
    data = payload.get("data") or {}
    messages = list(data.get("messages") or []) if isinstance(data, dict) else []
    total = data.get("total") if isinstance(data, dict) else None
    return messages, int(total) if isinstance(total, int) else None


def floor_of(client: Any, channel: str) -> dict[str, Any]:
    """The newest message of `channel` before sending: a message found later must be newer (or as new
    and another id). Asked once per channel and run."""
    messages, _ = _messages(client, channel, None, 1)
    if not messages:
        return {"after": None, "not": None}
    return {"after": messages[0].get("timestamp"), "not": messages[0].get("id")}


def find_message(client: Any, channel: str, email: str | None, text: str, floor: dict[str, Any]) -> bool:
    """Whether `email` posted `text` in `channel` after `floor` (newest first, `count` growing until the
    oldest returned is older than the floor or every message was seen)."""
    ep = client.settings.endpoint("messages")
    most = ep.max_count
    after = parse_ts(floor.get("after"))
    count = min(50, most)
    while True:
        messages, total = _messages(client, channel, email, count)
        for m in messages:
            ts = parse_ts(m.get("timestamp"))
            sender = str((m.get("user") or {}).get("email") or "").lower()
            if email and sender and sender != email.lower():
                continue
            if str(m.get("message") or "").strip() != text.strip() or m.get("id") == floor.get("not"):
                continue
            if after is None or (ts is not None and ts >= after):
                return True
        oldest = parse_ts(messages[-1].get("timestamp")) if messages else None
        if (len(messages) < count or (total is not None and len(messages) >= total) or count >= most
                or (after is not None and oldest is not None and oldest < after)):
            return False
        count = min(count * 4, most)
