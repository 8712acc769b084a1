"""Bulk uploads and jobs (contract 8): lifecycle, validation, row errors, and the changes they apply."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.simadmin import SimAdmin
from tests.simulator.helpers import ok, walk_total_pages

UPLOAD = "/apis/v1/users/bulk-update"


@pytest.fixture(autouse=True)
def quick_jobs(sim: SimAdmin) -> None:
    sim.knobs(bulk_delay_ms=30)


def upload(api: httpx.Client, csv_text: str | bytes, name: str = "push.csv", path: str = UPLOAD) -> dict:
    raw = csv_text.encode() if isinstance(csv_text, str) else csv_text
    return ok(api.post(path, files={"data": (name, raw, "text/csv")}))


def wait_job(api: httpx.Client, job_id: str, timeout: float = 10) -> tuple[dict, list[str]]:
    """Poll a job until it is terminal; returns it and the statuses seen on the way."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ok(api.get(f"/apis/v1/bulk-jobs/{job_id}"))["data"]
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in ("completed", "completed_with_errors", "failed"):
            return job, seen
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} still {seen[-1]}")


def details(api: httpx.Client, job_id: str) -> list[dict]:
    return walk_total_pages(lambda p: api.get(f"/apis/v1/bulk-jobs/{job_id}/details", params={"page": p, "limit": 2}), 2)


def test_job_lifecycle_and_applied_changes(sim: SimAdmin, api: httpx.Client) -> None:
    sim.knobs(bulk_delay_ms=600)
    users = sim.truth_rows("users")
    a, b = users[3], users[4]
    before_logs = len(sim.truth_rows("gamification_logs"))
    text = (f"email,coins_op,coins,xp_op,xp,loyalty_points_op,loyalty_points\n"
            f"{a['email']},add,50,overwrite,{a['xp'] + 1000},subtract,{a['loyalty_points']}\n"
            f"{b['email'].upper()},subtract,{b['coins']},add,0,add,7\n")
    body = upload(api, text)
    assert body["message"] == "Bulk update user process is queued"
    assert body["data"]["message"].startswith("Bulk update user process is queued")
    job, seen = wait_job(api, body["data"]["jobId"])
    assert seen == ["queued", "processing", "completed"]
    now = sim.clock()["now"]
    assert job == {"jobId": body["data"]["jobId"], "type": "users", "fileName": "push.csv", "status": "completed",
                   "totalRows": 2, "processedRows": 2, "successRows": 2, "failedRows": 0, "createdAt": now,
                   "startedAt": now, "finishedAt": now, "error": None}
    assert details(api, job["jobId"]) == [
        {"row": 1, "email": a["email"], "status": "success", "error": None},
        {"row": 2, "email": b["email"].upper(), "status": "success", "error": None}]
    after = {u["_id"]: u for u in sim.truth_rows("users")}
    assert (after[a["_id"]]["coins"], after[a["_id"]]["xp"], after[a["_id"]]["loyalty_points"]) == (a["coins"] + 50, a["xp"] + 1000, 0)
    assert (after[b["_id"]]["coins"], after[b["_id"]]["xp"], after[b["_id"]]["loyalty_points"]) == (0, b["xp"], b["loyalty_points"] + 7)
    logs = sim.truth_rows("gamification_logs")
    new = logs[before_logs:]
    assert [(r["user_id"], r["action"], r["xp"], r["coins"], r["createdAt"]) for r in new] == [
        (a["_id"], "bulk_update", 1000, 50, now), (b["_id"], "bulk_update", 0, -b["coins"], now)]
    assert (new[0]["balance_xp"], new[0]["balance_coins"]) == (a["xp"] + 1000, a["coins"] + 50)
    hist = [h for h in sim.truth_rows("user_field_histories") if h["source"] == "bulk"]
    assert [(h["userId"], h["field"], h["previousValue"], h["value"], h["createdAt"]) for h in hist] == [
        (a["_id"], "loyalty_points", a["loyalty_points"], 0, now),
        (b["_id"], "loyalty_points", b["loyalty_points"], b["loyalty_points"] + 7, now)]
    d = now[:10]
    daily = {(r["user_id"], r["date"]): r for r in sim.truth_rows("gamification_daily")}
    assert daily[(a["_id"], f"{d[8:]}/{d[5:7]}/{d[:4]}")]["coins"] == 50


def test_row_errors(sim: SimAdmin, api: httpx.Client) -> None:
    users = sim.truth_rows("users")
    e = [u["email"] for u in users[:6]]
    text = ("email,coins_op,coins\n"
            f"{e[0]},add,5\n"            # 1 ok
            "nobody@nowhere.test,add,5\n"  # 2 unknown email
            f"{e[1]},Add,5\n"            # 3 bad operator (case-sensitive)
            f"{e[2]},add,five\n"         # 4 not a number
            f"{e[3]},subtract,{users[3]['coins'] + 1}\n"  # 5 below zero
            f"{e[4]},add,1\n"            # 6 duplicate ...
            f"{e[4]},add,2\n"            # 7 ... both fail
            f"{e[5]},,\n")               # 8 nothing to change
    job, _ = wait_job(api, upload(api, text)["data"]["jobId"])
    assert (job["status"], job["totalRows"], job["successRows"], job["failedRows"]) == ("completed_with_errors", 8, 1, 6)
    rows = details(api, job["jobId"])
    assert [(r["row"], r["status"]) for r in rows] == [(1, "success"), (2, "failed"), (3, "failed"), (4, "failed"),
                                                       (5, "failed"), (6, "failed"), (7, "failed"), (8, "skipped")]
    errors = [r["error"] for r in rows]
    assert "unknown email" in errors[1] and "operator" in errors[2] and "not a number" in errors[3]
    assert "below zero" in errors[4] and errors[5] == errors[6] == "duplicate email in file"
    after = {u["email"]: u for u in sim.truth_rows("users")}
    assert [after[x]["coins"] for x in e] == [users[0]["coins"] + 5] + [u["coins"] for u in users[1:6]]
    job, _ = wait_job(api, upload(api, f"email,shoe_size\n{e[0]},42\n")["data"]["jobId"])
    assert job["status"] == "completed_with_errors"
    assert details(api, job["jobId"])[0]["error"] == "unknown column: shoe_size"


def test_file_errors_fail_the_job(api: httpx.Client) -> None:
    cases: dict[str | bytes, str] = {
        "name,coins_op,coins\nx,add,1\n": "missing email column",
        "email,coins,coins_op\na@b.c,1,add\n": "coins_op",
        "email,xp\na@b.c,1\n": "xp_op",
        b"email,city\n\xff\xfe,x\n": "UTF-8",
        "": "empty",
    }
    for text, needle in cases.items():
        job, _ = wait_job(api, upload(api, text)["data"]["jobId"])
        assert job["status"] == "failed" and needle in job["error"], (text, job)
    assert api.post(UPLOAD, files={"other": ("a.csv", b"email\n")}).status_code == 400
    assert api.post(UPLOAD, json={"data": "email\n"}).status_code == 400


def test_csv_values_are_preserved_exactly(sim: SimAdmin, api: httpx.Client) -> None:
    users = sim.truth_rows("users")
    values = ['=SUM(A1:A2)', '+31 6 1234', '-minus, with comma', '@handle "quoted"', 'two\nlines', 'Zoë 🎉 Kraków']
    lines = ["email,city,first_name"]
    for u, v in zip(users, values, strict=False):
        q = '"' + v.replace('"', '""') + '"'
        lines.append(f"{u['email']},{q},{q}")
    job, _ = wait_job(api, upload(api, "\r\n".join(lines) + "\r\n")["data"]["jobId"])
    assert job["status"] == "completed", details(api, job["jobId"])
    after = {u["_id"]: u for u in sim.truth_rows("users")}
    assert [(after[u["_id"]]["city"], after[u["_id"]]["first_name"]) for u in users[:6]] == [(v, v) for v in values]


def test_premium_currency_upload(sim: SimAdmin, api: httpx.Client) -> None:
    u = sim.truth_rows("users")[0]
    body = upload(api, f"email,premium_currency_op,premium_currency\n{u['email']},add,25\n", "gems.csv",
                  "/apis/v1/users/bulk-update/premium-currency")
    assert body["message"] == "Bulk update premium currency process is queued"
    job, _ = wait_job(api, body["data"]["jobId"])
    assert (job["type"], job["status"]) == ("premium_currency", "completed")
    assert next(x for x in sim.truth_rows("users") if x["_id"] == u["_id"])["premium_currency"] == u["premium_currency"] + 25
    job, _ = wait_job(api, upload(api, f"email,coins_op,coins\n{u['email']},add,1\n", "x.csv",
                                  "/apis/v1/users/bulk-update/premium-currency")["data"]["jobId"])
    assert job["status"] == "completed_with_errors"


def test_old_servers_answer_without_job_id(sim: SimAdmin, api: httpx.Client) -> None:
    sim.knobs(bulk_returns_job_id=False)
    u = sim.truth_rows("users")[0]
    upload(api, f"email,xp_op,xp\n{u['email']},add,1\n", "first.csv")
    body = upload(api, f"email,xp_op,xp\n{u['email']},add,2\n", "second.csv")
    assert set(body["data"]) == {"message"}
    jobs = walk_total_pages(lambda p: api.get("/apis/v1/bulk-jobs", params={"page": p, "limit": 1}), 1)
    assert [j["fileName"] for j in jobs] == ["second.csv", "first.csv"]
    wait_job(api, jobs[0]["jobId"])
    assert sim.truth_rows("bulk_jobs")[::-1] == [ok(api.get(f"/apis/v1/bulk-jobs/{j['jobId']}"))["data"] for j in jobs]
    assert api.get(f"/apis/v1/bulk-jobs/{'0' * 24}").status_code == 404
    assert api.get("/apis/v1/bulk-jobs/nope").status_code == 400
