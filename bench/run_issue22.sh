#!/usr/bin/env bash
# issue 22: eight communities of 2,000 members at 50 ms, each alone and all at once, in the order the
# runs were made; bench/README.md, "Issue 22: eight communities", has the figures. The first run's
# c01 and c02 ran before DuckDB loaded every table from parquet (the fix landed during that run);
# the second puts the tree before the fix (8169339) first on PYTHONPATH.
set -euxo pipefail
cd "$(dirname "$0")/.."
PY="$PWD/.venv/bin/python"
"$PY" -m bench.communities --label i22_communities
BASE=$(mktemp -d /tmp/returning-base-XXXX)
git archive 8169339 | tar -x -C "$BASE"
PYTHONPATH="$BASE" "$PY" -m bench.communities --singles none --fan-outs 8 --label i22_communities_before_parquet
"$PY" -m bench.communities --singles none --fan-outs 8 --label i22_communities_final
"$PY" -m bench.communities --singles none --fan-outs 8 --destination postgres --label i22_communities_postgres
