"""The command line: flags become knobs, bad flags are usage errors, the project CLI delegates here."""

from __future__ import annotations

import argparse

import httpx

from returning_sync.commands import simulator as command
from simulator.cli import main
from tests.conftest import start_simulator
from tests.simadmin import FULL_KEY


def test_flags_set_the_starting_knobs_and_community() -> None:
    proc, url = start_simulator(60, 3, "--rate-limit", "2", "--latency-ms", "20", "--fault-rate", "0")
    try:
        knobs = httpx.get(f"{url}/__sim/knobs").json()
        assert (knobs["rate_limit"], knobs["latency_ms"], knobs["faults"]["rate"]) == (2, 20, 0)
        r = httpx.get(f"{url}/apis/v1/tiers", headers={"Authorization": f"Bearer {FULL_KEY}"})
        assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "2"
        assert httpx.get(f"{url}/__sim/truth").json()["users"]["count"] == 60
        # reset keeps the start-up knobs
        httpx.post(f"{url}/__sim/knobs", json={"rate_limit": 0})
        httpx.post(f"{url}/__sim/reset", json={"seed": 3, "users": 60}, timeout=30)
        assert httpx.get(f"{url}/__sim/knobs").json()["rate_limit"] == 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_bad_flags_are_usage_errors() -> None:
    assert main(["--users", "0"]) == 2
    assert main(["--fault-rate", "1.5"]) == 2


def test_project_command_takes_the_same_flags() -> None:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.users, args.seed, args.latency_ms, args.rate_limit, args.fault_rate) == (
        "127.0.0.1", 8765, 5000, 7, 0, 0, 0)
    assert command.run(parser.parse_args(["--users", "0"])) == 2
