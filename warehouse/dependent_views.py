"""Views that read a model table, kept across its rebuild on Postgres.

A Postgres view binds to its table (by OID): the models' swap (drop the old table, rename the new
one) is refused while a view reads the table, and a `DROP ... CASCADE` would lose the analysts'
views. Inside the swap's transaction, `save` reads every view that depends on the table, directly
or through other views (`analytics_share.*`, `analytics_all.*`, an analyst's own): its definition
(`pg_get_viewdef`), options (`security_barrier`, `check_option`, ...), owner, grants (table and
column), and comments. `drop` drops them, the swap runs, `restore` creates them again over the new
table, in dependency order, as they were. Readers see the old views or the new ones, never none.
The model table's own owner, grants and comments go to the new table the same way (`table_rights`,
`restore_table`; those on a column the new table lacks are gone with it).

A view the new table no longer fits (a column it selects is gone, a UNION whose types no longer
match) cannot be recreated: `restore` raises `ViewNoLongerFits`, one line naming the view, and the
caller's transaction rolls back, so the old table and every view stay as they were. The share's
views are not rebuilt here: which columns analysts see is the share's decision (`warehouse.share`,
with the privacy policy), and a column a model gains must not reach them unreviewed; the message
says to run `returning-sync share` again. Materialized views, and views with rules or triggers of
their own, are refused by name before anything is dropped: they would not come back as they were.

DuckDB binds views late (by name): nothing to do there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from warehouse.connection import Connection
from warehouse.errors import WarehouseQueryError
from warehouse.location import SHARE_SCHEMA, UNION_SCHEMA

__all__ = ["Rights", "SavedView", "ViewNoLongerFits", "binds_views", "drop", "restore", "restore_table", "save",
           "table_rights"]

BINDING_DIALECTS = frozenset({"postgres"})  # engines whose views bind to their tables and that we handle


class ViewNoLongerFits(WarehouseQueryError):
    """A view that reads a model cannot be recreated over the rebuilt model."""


@dataclass(frozen=True)
class Rights:
    """A table's or view's owner, grants and comments, names quoted, literals quoted."""

    owner: str  # quoted role name
    default_acl: bool  # no grants ever changed (relacl NULL): the owner's default rights
    grants: tuple[tuple[str, str, bool], ...]  # (quoted grantee or PUBLIC, privilege, with grant option), in ACL order
    column_grants: tuple[tuple[str, str, str, bool], ...]  # (quoted column, grantee, privilege, grantable)
    comment: str | None  # a quoted literal
    column_comments: tuple[tuple[str, str], ...]  # (quoted column, quoted literal)


@dataclass(frozen=True)
class SavedView:
    """One dependent view as it was, its names quoted (`"analytics_share"."dim_users"`)."""

    schema: str
    name: str
    qualified: str
    definition: str  # the SELECT, `pg_get_viewdef` without its final semicolon
    options: tuple[str, ...]  # reloptions: `security_barrier=true`, `check_option=local`
    rights: Rights


def binds_views(dialect: str) -> bool:
    """True when a model's swap must save and restore the views that read it."""
    return dialect in BINDING_DIALECTS


def _rows(con: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    # the catalog's real names, never a community's mapping: a view of `analytics_all` names every
    # community's schema, and must be read and recreated exactly as it is
    return con._run(sql, list(params)).fetchall()  # noqa: SLF001 - the port's unscoped runner


def _run(con: Connection, sql: str) -> None:
    con._run(sql, [])  # noqa: SLF001


DEPENDENTS = """
WITH RECURSIVE dependents(oid, depth) AS (
    SELECT r.ev_class, 1 FROM pg_catalog.pg_depend AS d
    JOIN pg_catalog.pg_rewrite AS r ON r.oid = d.objid
    WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
      AND d.refobjid = %s AND r.ev_class <> d.refobjid
    UNION
    SELECT r.ev_class, dependents.depth + 1 FROM dependents
    JOIN pg_catalog.pg_depend AS d ON d.refobjid = dependents.oid
      AND d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
    JOIN pg_catalog.pg_rewrite AS r ON r.oid = d.objid
    WHERE r.ev_class <> dependents.oid AND dependents.depth < 100
)
SELECT c.oid, n.nspname, c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind,
       max(dependents.depth),
       (SELECT count(*) FROM pg_catalog.pg_rewrite AS r WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN')
       + (SELECT count(*) FROM pg_catalog.pg_trigger AS t WHERE t.tgrelid = c.oid)
FROM dependents JOIN pg_catalog.pg_class AS c ON c.oid = dependents.oid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
GROUP BY c.oid, n.nspname, c.relname, c.relkind
ORDER BY max(dependents.depth), n.nspname, c.relname
"""

RELATION = """
SELECT coalesce(c.reloptions, '{}'), quote_ident(pg_catalog.pg_get_userbyid(c.relowner)),
       c.relacl IS NULL, quote_literal(pg_catalog.obj_description(c.oid, 'pg_class'))
FROM pg_catalog.pg_class AS c WHERE c.oid = %s
"""

GRANTS = """
SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END,
       a.privilege_type, a.is_grantable
FROM pg_catalog.pg_class AS c,
     aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) WITH ORDINALITY AS a(grantor, grantee, privilege_type, is_grantable, n)
WHERE c.oid = %s ORDER BY a.n
"""

COLUMNS = """
SELECT quote_ident(a.attname), quote_literal(pg_catalog.col_description(a.attrelid, a.attnum))
FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""

COLUMN_GRANTS = """
SELECT quote_ident(att.attname),
       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END,
       a.privilege_type, a.is_grantable
FROM pg_catalog.pg_attribute AS att,
     aclexplode(att.attacl) WITH ORDINALITY AS a(grantor, grantee, privilege_type, is_grantable, n)
WHERE att.attrelid = %s AND att.attnum > 0 AND NOT att.attisdropped AND att.attacl IS NOT NULL ORDER BY att.attnum, a.n
"""


def _oid(con: Connection, schema: str, table: str) -> int | None:
    found = _rows(con, "SELECT c.oid FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n "
                       "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s", [schema, table])
    return int(found[0][0]) if found else None


def _rights(con: Connection, oid: int) -> Rights:
    _options, owner, default_acl, comment = _rows(con, RELATION, [oid])[0]
    return Rights(
        owner=str(owner), default_acl=bool(default_acl),
        grants=tuple((str(g), str(p), bool(w)) for g, p, w in _rows(con, GRANTS, [oid])),
        column_grants=tuple((str(c), str(g), str(p), bool(w)) for c, g, p, w in _rows(con, COLUMN_GRANTS, [oid])),
        comment=comment,
        column_comments=tuple((str(c), str(k)) for c, k in _rows(con, COLUMNS, [oid]) if k is not None))


def table_rights(con: Connection, schema: str, table: str) -> Rights | None:
    """The model table's own owner, grants and comments (None: no table yet), to carry over to
    the table that replaces it: a rebuild must not take away what was granted on it."""
    oid = _oid(con, schema, table)
    return None if oid is None else _rights(con, oid)


def restore_table(con: Connection, schema: str, table: str, rights: Rights) -> None:
    """Give the rebuilt `schema.table` the old one's rights; those on columns it no longer has are gone."""
    oid = _oid(con, schema, table)
    if oid is None:
        return
    present = {str(c) for c, _ in _rows(con, COLUMNS, [oid])}
    kept = replace(rights, column_grants=tuple(g for g in rights.column_grants if g[0] in present),
                   column_comments=tuple(c for c in rights.column_comments if c[0] in present))
    _apply(con, "TABLE", f"{_quote(schema)}.{_quote(table)}", oid, kept)


def save(con: Connection, schema: str, table: str) -> list[SavedView]:
    """Every view that reads `schema.table` (real names), directly or through another view, in the
    order they can be created again; refuses, before anything changes, what cannot come back."""
    found = _oid(con, schema, table)
    if found is None:
        return []
    saved: list[SavedView] = []
    for oid, view_schema, name, qualified, kind, _depth, extras in _rows(con, DEPENDENTS, [found]):
        if kind != "v" or extras:
            what = "materialized view" if kind == "m" else "view with rules or triggers of its own"
            raise WarehouseQueryError(f"{what} {qualified} reads {schema}.{table}: a rebuild would not bring it "
                                      f"back as it is; drop it (and create it again after the build)")
        definition = str(_rows(con, "SELECT pg_catalog.pg_get_viewdef(%s)", [oid])[0][0])
        options = _rows(con, RELATION, [oid])[0][0]
        saved.append(SavedView(schema=str(view_schema), name=str(name), qualified=str(qualified),
                               definition=definition.strip().removesuffix(";"), options=tuple(options),
                               rights=_rights(con, oid)))
    return saved


def drop(con: Connection, views: Sequence[SavedView]) -> None:
    """Drop the saved views, dependents first; never CASCADE: anything else that reads one stops it."""
    for view in reversed(views):
        _run(con, f"DROP VIEW {view.qualified}")


def restore(con: Connection, views: Sequence[SavedView], table: str) -> None:
    """Create the saved views again (over the rebuilt `table`), with their options, owner, grants
    and comments. Raises `ViewNoLongerFits` naming the first view that no longer fits."""
    for view in views:
        options = f" WITH ({', '.join(view.options)})" if view.options else ""
        try:
            _run(con, f"CREATE VIEW {view.qualified}{options} AS {view.definition}")
        except WarehouseQueryError as exc:
            raise ViewNoLongerFits(f"view {view.schema}.{view.name} cannot be recreated over the new {table} "
                                   f"({_reason(exc)}); nothing was changed: {_advice(view)}") from None
        oid = _rows(con, "SELECT %s::regclass::oid", [view.qualified])[0][0]
        _apply(con, "VIEW", view.qualified, oid, view.rights)


def _apply(con: Connection, kind: str, qualified: str, oid: int, rights: Rights) -> None:
    """Owner, grants (exactly as saved: what CREATE gave, default privileges too, revoked first) and
    comments onto a relation just created."""
    me = str(_rows(con, "SELECT quote_ident(current_user)")[0][0])
    if rights.owner != me:
        _run(con, f"ALTER {kind} {qualified} OWNER TO {rights.owner}")
    now_default = bool(_rows(con, "SELECT relacl IS NULL FROM pg_catalog.pg_class WHERE oid = %s", [oid])[0][0])
    if not (rights.default_acl and now_default):
        for grantee in dict.fromkeys(str(g) for g, _p, _w in _rows(con, GRANTS, [oid])):
            _run(con, f"REVOKE ALL ON {qualified} FROM {grantee}")
        for grantee, privilege, grantable in rights.grants:
            option = " WITH GRANT OPTION" if grantable else ""
            _run(con, f"GRANT {privilege} ON {qualified} TO {grantee}{option}")
    for column, grantee, privilege, grantable in rights.column_grants:
        option = " WITH GRANT OPTION" if grantable else ""
        _run(con, f"GRANT {privilege} ({column}) ON {qualified} TO {grantee}{option}")
    if rights.comment is not None:
        _run(con, f"COMMENT ON {kind} {qualified} IS {rights.comment}")
    for column, comment in rights.column_comments:
        _run(con, f"COMMENT ON COLUMN {qualified}.{column} IS {comment}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _reason(exc: WarehouseQueryError) -> str:
    original = getattr(exc, "original", None)
    text = str(original if original is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _advice(view: SavedView) -> str:
    if view.schema.startswith(SHARE_SCHEMA):
        return ("run `returning-sync share` again to rebuild the share's views from the models, "
                "or drop or fix the view, then build again")
    if view.schema == UNION_SCHEMA:
        return ("drop it (warehouse.union.drop_union_views), build the model, then build the union views "
                "again (warehouse.union.build_union_views)")
    return "drop or change the view, then build again"
