"""Property: any text survives our CSV writer -> the simulator's CSV parser -> the user's record unchanged,
and the preview written for people neutralises every cell a spreadsheet would run as a formula."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.client import ReturningClient
from pipelines.config import Settings
from reverse_etl.csvfile import FORMULA_PREFIXES, CsvColumn, CsvRow, parse, render
from reverse_etl.jobs import Waiting, await_job, job_id_of
from tests.simadmin import SimAdmin

CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TEXT = st.one_of(
    st.text(CHARS, min_size=1, max_size=40),
    st.builds(lambda p, t: p + t, st.sampled_from(["=", "+", "-", "@", "\t", "\r", '"', ","]),
              st.text(CHARS, max_size=20)),
)
COLUMNS = [CsvColumn("city", None)]


def roundtrip(client: ReturningClient, email: str, value: str) -> Any:
    content = render([CsvRow(email, {"city": value}, {})], COLUMNS).encode("utf-8")
    job_id = job_id_of(client.upload_csv("bulk_update_users", filename="roundtrip.csv", content=content))
    assert job_id
    job = await_job(client, job_id, Waiting(timeout=10, first=0.01, ceiling=0.1))
    assert job["status"] == "completed", client.request_json("bulk_job_details", path_params={"jobId": job_id})
    return client.request_json("user_info", json={"idOrEmail": email})["customFields"]["city"]


def test_any_text_survives_writer_and_server_parser(sim: SimAdmin, api_env: dict[str, str]) -> None:
    sim.knobs(bulk_delay_ms=0)
    email = sim.truth_rows("users")[0]["email"]
    with ReturningClient(Settings.from_env()) as client:

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(value=TEXT)
        @example(value='=HYPERLINK("http://x","y")')
        @example(value='a,"b"\r\nc\n\u00e9\u4e2d\U0001f600')
        @example(value="@SUM(A1:A2)")
        @example(value=" -12 ")
        def check(value: str) -> None:
            assert roundtrip(client, email, value) == value
            preview = parse(render([CsvRow(email, {"city": value}, {})], COLUMNS, preview=True).encode())
            shown = preview[0]["city"]
            assert not shown.startswith(FORMULA_PREFIXES)
            assert shown == ("'" + value if value.startswith(FORMULA_PREFIXES) else value)

        check()
