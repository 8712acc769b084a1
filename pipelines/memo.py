"""What the resources of one run work out once and share (`RunContext.memo`), one typed field each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple


class Span(NamedTuple):
    first: date  # the first day this resource reads this run
    last: date  # the last day it reads (the server's day, or the window's end)
    first_ever: date  # the first day a first run reads (users it has never seen)
    previous: date | None  # the last day the previous run read (None: never ran)


@dataclass
class RunMemo:
    user_fields: list[dict[str, Any]] | None = None  # the custom-field definitions (RunContext.user_fields)
    responses: dict[str, Any] = field(default_factory=dict)  # by endpoint: one-response bodies read once (tiers)
    channels: list[dict[str, Any]] | None = None  # the community's channels (channels table, messages walk)
    spans: dict[str, Span] = field(default_factory=dict)  # by resource: the days it reads this run
    # the users pass (resources/baseline.py): stamped once, by the users resource as it starts
    users_stamped: bool = False
    stored_pass: str | None = None  # the pass the stored users table holds
    pass_after_run: str | None = None  # the pass it holds after this run
    baselines: dict[str, bool] = field(default_factory=dict)  # by fan-out: the stored users table is its baseline
    stats_prev_login_read: bool = False
    stats_prev_login: datetime | None = None  # activity_stats: the latest login its last run saw
    orders_prev_high: Any = None  # redemption_orders: its high-water mark before this run
    minigame_body: dict[str, str] | None = None  # minigame_logs: this run's window, as the request body
    minigame_players: set[str] = field(default_factory=set)  # minigame_logs: members read through discovery
    emptied: set[str] = field(default_factory=set)  # transformers whose empty table this run yielded
