"""Bulk uploads (8.1, 8.2) and bulk jobs (8.3)."""

from __future__ import annotations

import time

from starlette.datastructures import UploadFile

from simulator import bulk, objectid, render
from simulator.envelopes import Reply, bad_request, envelope_a, not_found, page_limit, pagination
from simulator.routing import Call, route
from simulator.world import Job, World

QUEUED = {"users": "Bulk update user process is queued",
          "premium_currency": "Bulk update premium currency process is queued"}


async def _upload(call: Call, kind: str) -> Reply:
    ctype = call.request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise bad_request("Invalid file", "Send multipart/form-data with a file part named `data`")
    try:
        form = await call.request.form()
    except Exception as e:  # malformed multipart
        raise bad_request("Invalid file", f"Malformed multipart body: {e}") from None
    part = form.get("data")
    if part is None:
        raise bad_request("Invalid file", "Missing file part `data`")
    if isinstance(part, UploadFile):
        raw = await part.read()
        name = part.filename or "data.csv"
    else:
        raw, name = str(part).encode(), "data.csv"
    w = call.world
    job = Job(objectid.make(w.clock_ms, objectid.TAG_JOB, len(w.jobs)), kind, name, w.clock_ms,
              time.monotonic(), raw)
    job.total_rows = bulk.count_rows(raw)
    w.jobs.append(job)
    bulk.tick(call.sim)
    msg = QUEUED[kind]
    data: dict[str, str] = {"message": f"{msg}. You can check in Api Log ( community settings )"}
    if call.sim.knobs.bulk_returns_job_id:
        data["jobId"] = job.job_id
    return envelope_a(data, msg)


@route("POST", "/apis/v1/users/bulk-update", "bulkUpdateUser")
async def bulk_update_users(call: Call) -> Reply:
    return await _upload(call, "users")


@route("POST", "/apis/v1/users/bulk-update/premium-currency", "bulkUpdateUser")
async def bulk_update_premium(call: Call) -> Reply:
    return await _upload(call, "premium_currency")


@route("GET", "/apis/v1/bulk-jobs", "bulkUpdateUser")
def bulk_jobs(call: Call) -> Reply:
    page, limit = page_limit(call.query)
    jobs = call.world.jobs[::-1]
    recs = [render.job(j) for j in jobs[(page - 1) * limit: page * limit]]
    return envelope_a({"pagination": pagination(page, limit, len(jobs)), "results": recs}, "Bulk jobs fetched", recs)


def _job(w: World, job_id: str) -> Job:
    if not objectid.is_valid(job_id):
        raise bad_request("Invalid jobId", "jobId must be a 24-character hex ObjectId")
    for j in w.jobs:
        if j.job_id == job_id:
            return j
    raise not_found("Bulk job not found", f"No bulk job {job_id}")


@route("GET", "/apis/v1/bulk-jobs/{jobId}", "bulkUpdateUser")
def bulk_job(call: Call) -> Reply:
    return envelope_a(render.job(_job(call.world, call.params["jobId"])), "Bulk job fetched")


@route("GET", "/apis/v1/bulk-jobs/{jobId}/details", "bulkUpdateUser")
def bulk_job_details(call: Call) -> Reply:
    job = _job(call.world, call.params["jobId"])
    page, limit = page_limit(call.query)
    recs = [dict(d) for d in job.details[(page - 1) * limit: page * limit]]
    return envelope_a({"pagination": pagination(page, limit, len(job.details)), "results": recs},
                      "Bulk job details fetched", recs)
