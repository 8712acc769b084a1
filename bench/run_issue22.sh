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
# the fan-out's children forked from one server that imported the sync once (returning_sync/fork_server.py),
# against fresh interpreters (78bb5cc, first on PYTHONPATH), at 20 ms, in the same minutes
"$PY" -m bench.communities --communities 8 --latency-ms 20 --singles none --fan-outs 8 --label i22_fork_server_20ms
BASE=$(mktemp -d /tmp/returning-base-XXXX)
git archive 78bb5cc | tar -x -C "$BASE"
PYTHONPATH="$BASE" "$PY" -m bench.communities --communities 8 --latency-ms 20 --singles none --fan-outs 8 --label i22_subprocesses_20ms
# the quiet machine (load 0.1-3), with the fork server: singles, then all eight at once
"$PY" -m bench.communities --fan-outs 8 --label i22_quiet
# Postgres, with the fork server: the fan-out only
"$PY" -m bench.communities --singles none --fan-outs 8 --destination postgres --label i22_postgres_fork_server
