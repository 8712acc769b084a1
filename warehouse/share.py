"""Schema `analytics_share`: what analysts may read. One view per model of `analytics`, less members'
personal data: a PII column (`PII_COLUMNS`, plus configured personal fields) is dropped, or kept when
the PII policy already hashes it before it lands (it then holds only hashes).

- Postgres (and other servers): the views, and a role `returning_analyst` that can read them and
  nothing else: USAGE on `analytics_share` and SELECT on its views only, no right on `returning_raw`,
  `returning_private`, `reverse_etl` or `analytics`, every session read-only. The views read the
  models with their owner's rights, so the role needs none on what they read. With a password
  (`privacy.analyst_password`) the role can log in; without, grant it to your analysts' logins.
- Snowflake / BigQuery: the same, as generated SQL (`statements(..., dialect=...)`), run through the
  port; tested as text only.
- DuckDB: the share is a second DuckDB file beside the warehouse (`share_path`) holding only the
  share's tables (copies, not views: a view would need the warehouse file). `returning-sync sql
  --warehouse <it>` reads it sandboxed, so it cannot attach the warehouse.

A community other than the default has a share of its own, named after it (`share --community acme`):
schema `analytics_share__acme` over `analytics__acme`, role `returning_analyst__acme` (it reads that
share alone), DuckDB file `returning_share__acme.duckdb`. The functions take the community from the
connection (`Connection.community`) and write its schema names out, so the SQL reads the same run on
any connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from warehouse.connection import Connection
from warehouse.location import DEFAULT_COMMUNITY, community_schema

SHARE_SCHEMA = "analytics_share"
MODELS_SCHEMA = "analytics"
ANALYST_ROLE = "returning_analyst"
# model columns that hold a member's personal data (as the raw tables' PII, `pipelines.declared.PII`)
PII_COLUMNS = ("email", "first_name", "last_name", "username", "display_name", "identifier", "member_email",
               "user__email", "name_of_member")
PRIVATE_SCHEMAS = ("returning_raw", "returning_private", "reverse_etl", MODELS_SCHEMA, "seeds")


def share_path(warehouse: Path, community: str = DEFAULT_COMMUNITY) -> Path:
    """The DuckDB share file beside the warehouse: `returning.duckdb` -> `returning_share.duckdb`
    (community `acme`: `returning_share__acme.duckdb`, so communities sharing a file have one each)."""
    own = "" if community == DEFAULT_COMMUNITY else f"__{community}"
    return warehouse.with_name(f"{warehouse.stem}_share{own}{warehouse.suffix or '.duckdb'}")


def analyst_role(community: str = DEFAULT_COMMUNITY) -> str:
    """The role that reads the community's share and nothing else."""
    return ANALYST_ROLE if community == DEFAULT_COMMUNITY else f"{ANALYST_ROLE}__{community}"


def shared_columns(columns: Sequence[str], pii: Iterable[str], hashed: Iterable[str]) -> list[str]:
    """The columns a view shows: all but PII, PII that the policy hashes kept (it holds hashes)."""
    pii_set, hashed_set = {c.lower() for c in pii}, {c.lower() for c in hashed}
    return [c for c in columns if c.lower() not in pii_set or c.lower() in hashed_set]


def model_columns(con: Connection) -> dict[str, list[str]]:
    """model -> its columns, for every table and view of `analytics`."""
    out: dict[str, list[str]] = {}
    for table, column in con.fetchall(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ? "
            "ORDER BY table_name, ordinal_position", [MODELS_SCHEMA]):
        out.setdefault(str(table), []).append(str(column))
    return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def view_sql(model: str, columns: Sequence[str], dialect: str, community: str = DEFAULT_COMMUNITY) -> str:
    share, models = community_schema(SHARE_SCHEMA, community), community_schema(MODELS_SCHEMA, community)
    select = ", ".join(_q(c) for c in columns) if dialect != "bigquery" else ", ".join(f"`{c}`" for c in columns)
    if dialect == "bigquery":
        return f"CREATE OR REPLACE VIEW `{share}.{model}` AS SELECT {select} FROM `{models}.{model}`"
    return f"CREATE OR REPLACE VIEW {share}.{_q(model)} AS SELECT {select} FROM {models}.{_q(model)}"


def statements(models: Mapping[str, Sequence[str]], dialect: str, *, password: str | None = None,
               bigquery_principal: str = "group:returning-analysts@example.com",
               community: str = DEFAULT_COMMUNITY) -> list[str]:
    """The share's SQL for a server: schema, views, the analysts' role and its rights (the
    community's: its schemas and role, `analyst_role`)."""
    share, role = community_schema(SHARE_SCHEMA, community), analyst_role(community)
    private = [community_schema(s, community) for s in PRIVATE_SCHEMAS]
    out: list[str] = []
    if dialect == "postgres":
        out.append(f"DROP SCHEMA IF EXISTS {share} CASCADE")
    out.append(f"CREATE SCHEMA IF NOT EXISTS {share}" if dialect != "bigquery"
               else f"CREATE SCHEMA IF NOT EXISTS `{share}`")
    out += [view_sql(m, cols, dialect, community) for m, cols in sorted(models.items()) if cols]
    if dialect == "postgres":
        login = "LOGIN PASSWORD '" + password.replace("'", "''") + "'" if password else "NOLOGIN"
        out += [
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {role}; END IF; END $$",
            f"ALTER ROLE {role} WITH {login}",  # created plain: no superuser, no createdb, no createrole
            f"ALTER ROLE {role} SET default_transaction_read_only = on",
            *(f"DO $$ BEGIN IF EXISTS (SELECT FROM pg_namespace WHERE nspname = '{s}') THEN "
              f"REVOKE ALL ON SCHEMA {s} FROM PUBLIC, {role}; "
              f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM PUBLIC, {role}; END IF; END $$"
              for s in private),
            f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}",
            f"GRANT USAGE ON SCHEMA {share} TO {role}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {share} TO {role}",
        ]
    elif dialect == "snowflake":
        out += [
            f"CREATE ROLE IF NOT EXISTS {role}",
            f"GRANT USAGE ON DATABASE IDENTIFIER(CURRENT_DATABASE()) TO ROLE {role}",
            f"GRANT USAGE ON SCHEMA {share} TO ROLE {role}",
            f"GRANT SELECT ON ALL VIEWS IN SCHEMA {share} TO ROLE {role}",
            f"GRANT SELECT ON FUTURE VIEWS IN SCHEMA {share} TO ROLE {role}",
        ]
    elif dialect == "bigquery":
        # the views are authorised on `analytics` (bq update --view or the console) so the principal
        # reads them without any right on the models; it is granted the share's dataset only
        out.append(f'GRANT `roles/bigquery.dataViewer` ON SCHEMA `{share}` TO "{bigquery_principal}"')
    return out


@dataclass(frozen=True)
class Share:
    """A share just built: on DuckDB its file and rows per table, on a server its views (view -> its
    columns) and the analysts' role."""

    schema: str
    file: Path | None = None
    tables: dict[str, int] = field(default_factory=dict)
    views: dict[str, list[str]] = field(default_factory=dict)
    role: str = ""


def build_share(con: Connection, hashed: Iterable[str], personal: Iterable[str] = (),
                password: str | None = None) -> Share:
    """The share of the connection's community on its warehouse: on DuckDB the share file beside the
    warehouse (`share_path`, `build_duckdb_share`), on a server the views and the role that reads them
    (`build_server_share`; `password` lets the role log in)."""
    location = con.location
    if location.embedded:
        target = share_path(location.file, location.community)
        return Share(con.schema(SHARE_SCHEMA), file=target, tables=build_duckdb_share(con, target, hashed, personal))
    return Share(con.schema(SHARE_SCHEMA), views=build_server_share(con, hashed, personal, password=password),
                 role=analyst_role(location.community))


def build_server_share(con: Connection, hashed: Iterable[str], personal: Iterable[str] = (),
                       password: str | None = None) -> dict[str, list[str]]:
    """Run the share's statements on a server destination; returns view -> its columns."""
    models = model_columns(con)
    shared = {m: shared_columns(cols, (*PII_COLUMNS, *personal), hashed) for m, cols in models.items()}
    with con.transaction():
        for statement in statements(shared, con.dialect, password=password, community=con.community):
            con.execute_native(statement)
    return shared


def build_duckdb_share(con: Connection, target: Path, hashed: Iterable[str],
                       personal: Iterable[str] = ()) -> dict[str, int]:
    """Write the share file `target` from the open warehouse `con`: schema `analytics_share` (the
    connection's community's: `analytics_share__acme`), one table per model with the shared columns; returns table -> rows. The file is built beside and
    renamed over the old one, so a reader never sees half a share."""
    import os

    models = model_columns(con)
    share, source = con.schema(SHARE_SCHEMA), con.schema(MODELS_SCHEMA)
    building = target.with_name(target.name + ".building")
    building.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    path = str(building).replace("'", "''")
    con.execute_native(f"ATTACH '{path}' AS returning_share")
    try:
        con.execute_native(f"CREATE SCHEMA returning_share.{share}")
        for model, columns in sorted(models.items()):
            cols = shared_columns(columns, (*PII_COLUMNS, *personal), hashed)
            if not cols:
                continue
            select = ", ".join(_q(c) for c in cols)
            con.execute_native(f"CREATE TABLE returning_share.{share}.{_q(model)} AS "
                               f"SELECT {select} FROM {source}.{_q(model)}")
            row = con.fetchone(f"SELECT count(*) FROM returning_share.{share}.{_q(model)}")
            counts[model] = int(row[0]) if row else 0
    finally:
        con.execute_native("DETACH returning_share")
    os.replace(building, target)
    return counts
