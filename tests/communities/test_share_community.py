"""`share --community SLUG`: a community's own share of its own models (warehouse/share.py), beside the
default community's and apart from it: DuckDB, a file each; Postgres, a schema and a role each."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from returning_sync.cli import main
from tests.dltproject import write
from warehouse.connection import connect
from warehouse.location import WarehouseLocation
from warehouse.share import share_path

PASSWORD = "acme-analyst-pw-7d1e"


def configure(project: Path, location: WarehouseLocation) -> None:
    """The default community and `acme` on the location's warehouse; models in both (acme's differ)."""
    write(project, "config.toml", f"""
[sources.returning_ai]
community_id = "6502c9e514a3e564c5c09c0a"
destination = "{location.destination}"
warehouse = "{location.path}"

[sources.returning_ai.communities.acme]
community_id = "65a0c9e514a3e564c5c0aaaa"
""")
    for community, rows in (("default", [("d1", "d1@example.com", 5), ("d2", "d2@example.com", 7)]),
                            ("acme", [("a1", "a1@example.com", 9)])):
        with connect(location.for_community(community)) as con:  # the same SQL, each community's schemas
            con.execute("CREATE SCHEMA analytics")
            con.execute("CREATE TABLE analytics.dim_users (user_id VARCHAR, email VARCHAR, points BIGINT)")
            for row in rows:
                con.execute("INSERT INTO analytics.dim_users VALUES (?, ?, ?)", list(row))


@pytest.mark.parametrize("location", ["duckdb"], indirect=True)
def test_duckdb_a_share_file_per_community(project: Path, location: WarehouseLocation,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    configure(project, location)
    assert main(["share", "--community", "acme"]) == 0
    acme = share_path(location.file, "acme")
    assert acme.name == "returning_share__acme.duckdb" and f"{acme} (schema analytics_share__acme)" in capsys.readouterr().out
    assert not share_path(location.file).exists()  # the default community's share: not built, not touched
    assert main(["share"]) == 0
    for path, schema, ids in ((acme, "analytics_share__acme", [("a1", 9)]),
                              (share_path(location.file), "analytics_share", [("d1", 5), ("d2", 7)])):
        with connect(WarehouseLocation(destination="duckdb", path=path), read_only=True) as con:
            assert {r[0] for r in con.fetchall("SELECT DISTINCT table_schema FROM information_schema.tables")} == {schema}
            assert con.fetchall(f"SELECT * FROM {schema}.dim_users ORDER BY 1") == ids  # no email
    # `forget --community acme` rebuilds acme's share file after the erasure, never the default's
    from pipelines.forget import refresh_share
    from pipelines.privacy import Policy

    with connect(location.for_community("acme")) as con:
        con.execute("INSERT INTO analytics.dim_users VALUES ('a2', 'a2@example.com', 3)")
    default_share = share_path(location.file).read_bytes()
    refresh_share(location.for_community("acme"), Policy.from_env())
    assert share_path(location.file).read_bytes() == default_share
    with connect(WarehouseLocation(destination="duckdb", path=acme), read_only=True) as con:
        assert con.fetchall("SELECT user_id FROM analytics_share__acme.dim_users ORDER BY 1") == [("a1",), ("a2",)]


def as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}:{PASSWORD}@{parts.hostname}:{parts.port}"))


@pytest.mark.parametrize("location", ["postgres"], indirect=True)
def test_postgres_a_share_schema_and_a_role_per_community(project: Path, location: WarehouseLocation,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import os

    configure(project, location)
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__ANALYST_PASSWORD", PASSWORD)
    assert main(["share", "--community", "acme"]) == 0 and main(["share"]) == 0
    out = capsys.readouterr().out
    assert "1 view in analytics_share__acme on postgres" in out and "role returning_analyst__acme reads only them" in out
    url = os.environ["DESTINATION__POSTGRES__CREDENTIALS"]
    for role, readable, refused in (
            ("returning_analyst__acme", ("analytics_share__acme", [("a1", 9)]),
             ["analytics_share.dim_users", "analytics__acme.dim_users", "analytics.dim_users"]),
            ("returning_analyst", ("analytics_share", [("d1", 5), ("d2", 7)]),
             ["analytics_share__acme.dim_users", "analytics__acme.dim_users", "analytics.dim_users"])):
        con = psycopg2.connect(as_role(url, role))
        con.autocommit = True
        try:
            cur = con.cursor()
            schema, rows = readable
            cur.execute(f"SELECT * FROM {schema}.dim_users ORDER BY 1")
            assert cur.fetchall() == rows, role
            for table in refused:
                with pytest.raises(psycopg2.Error, match="permission denied"):
                    cur.execute(f"SELECT * FROM {table}")
        finally:
            con.close()
