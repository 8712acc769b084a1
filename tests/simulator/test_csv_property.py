"""Any text a CSV can carry survives a bulk upload exactly (quotes, commas, newlines, unicode, = + - @)."""

from __future__ import annotations

import csv
import io

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.simadmin import SimAdmin
from tests.simulator.test_bulk import upload, wait_job

cell = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r"),
    min_size=1, max_size=30,
).filter(lambda s: s.strip() != "" and s == s.replace("\r", ""))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(cell, st.sampled_from(["=1+2", "+44", "-5", "@x", 'a "b", c', "l1\nl2"])),
                       min_size=1, max_size=4))
def test_text_round_trips_through_bulk_upload(sim: SimAdmin, api: httpx.Client, values: list[str]) -> None:
    sim.knobs(bulk_delay_ms=0)
    users = sim.truth_rows("users")[10:10 + len(values)]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["email", "display_name"])
    for u, v in zip(users, values, strict=True):
        writer.writerow([u["email"], v])
    job, _ = wait_job(api, upload(api, buf.getvalue())["data"]["jobId"])
    assert job["status"] == "completed", job
    after = {u["_id"]: u["display_name"] for u in sim.truth_rows("users")}
    assert [after[u["_id"]] for u in users] == values
