"""A warehouse that cannot be used ends the run with one line naming it, before any API call:
unknown destination, missing credentials or a refused login exit 2; a server that does not answer exit 4."""

from __future__ import annotations

import pytest

from returning_sync.cli import main
from tests.pgcluster import PASSWORD, free_port
from tests.simadmin import SimAdmin


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.err


@pytest.fixture()
def on_postgres(api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("RETURNING_DESTINATION", "postgres")
    monkeypatch.delenv("DESTINATION__POSTGRES__CREDENTIALS", raising=False)
    return monkeypatch


def test_unknown_destination_exits_2_naming_it(sim: SimAdmin, api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RETURNING_DESTINATION", "postgress")
    code, err = run(["sync", "--resources", "tiers"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "unknown destination 'postgress' (RETURNING_DESTINATION)" in err
    assert sim.counters()["total"] == 0


def test_missing_credentials_exit_2_saying_where_they_go(sim: SimAdmin, on_postgres: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["sync", "--resources", "tiers"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "no credentials for destination 'postgres'" in err and "DESTINATION__POSTGRES__CREDENTIALS" in err
    assert sim.counters()["total"] == 0


def test_refused_login_exits_2_naming_destination_and_host(sim: SimAdmin, on_postgres: pytest.MonkeyPatch,
                                                           pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = pg_url.replace(PASSWORD, "not-the-password")
    on_postgres.setenv("DESTINATION__POSTGRES__CREDENTIALS", wrong)
    code, err = run(["sync", "--resources", "tiers"], capsys)
    host_port = pg_url.split("@", 1)[1].split("/", 1)[0]
    assert code == 2 and err.count("\n") == 1
    assert f"the warehouse postgres at {host_port}/" in err and "password authentication failed" in err
    assert "not-the-password" not in err and PASSWORD not in err
    assert sim.counters()["total"] == 0


def test_unreachable_server_exits_4(sim: SimAdmin, on_postgres: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens there
    on_postgres.setenv("DESTINATION__POSTGRES__CREDENTIALS", f"postgresql://u:secret-pw-1@127.0.0.1:{port}/db")
    code, err = run(["sync", "--resources", "tiers"], capsys)
    assert code == 4 and err.count("\n") == 1
    assert f"the warehouse postgres at 127.0.0.1:{port}/db is unreachable" in err and "secret-pw-1" not in err
    assert sim.counters()["total"] == 0


def test_a_second_sync_into_the_same_postgres_dataset_refuses(sim: SimAdmin, on_postgres: pytest.MonkeyPatch,
                                                              pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Two machines (two working directories) syncing into one Postgres dataset: the server's
    advisory lock lets one load at a time; the other refuses with one line."""
    import psycopg2

    on_postgres.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_url)
    holder = psycopg2.connect(pg_url)  # stands in for a sync running on another machine
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtext('returning_sync:returning_raw'))")
        code, err = run(["sync", "--resources", "tiers"], capsys)
        assert code == 6 and "another sync is already loading into postgres at" in err
        assert sim.counters()["total"] == 0
    finally:
        holder.close()
    code, err = run(["sync", "--resources", "tiers"], capsys)
    assert code == 0, err
