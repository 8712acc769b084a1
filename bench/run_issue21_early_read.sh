#!/usr/bin/env bash
# issue 21: why the users pass measured 0.05 s slower than 8c4f82f. The pass's timer starts when the
# users resource starts, and its first request is the custom-field definitions (user_fields). In
# 8c4f82f, early.py sent that request while dlt was still importing, so the timer found it answered.
# Three variants alternate, three runs each, 20,000 members at 50 ms: 8c4f82f with its early reads off
# (a SOURCES__RETURNING_AI__* variable turns them off, as dlt_may_set() shows; CONCURRENCY=4 is the
# default), 8c4f82f as it was, and this checkout. bench/README.md, "The users pass: one request
# earlier, not a faster pass", has the figures; bench/results/i21_users_pass_early_read.md the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUNTIME__DLTHUB_TELEMETRY=false
PY="$PWD/.venv/bin/python"
BASE=$(mktemp -d /tmp/returning-base-XXXX)
git archive 8c4f82f | tar -x -C "$BASE"
run() { "$PY" -m bench.run --users 20000 --profiles lat50 --runs full --repeat 1 --contenders ours --resources users --label "$1" > /dev/null; }
for i in 1 2 3; do
  (cd "$BASE" && SOURCES__RETURNING_AI__CONCURRENCY=4 PYTHONPATH="$BASE" run "i21u_old_no_early$i")
  (cd "$BASE" && PYTHONPATH="$BASE" run "i21u_old$i")
  run "i21u_new$i"
done
{
  echo "# The users pass with and without 8c4f82f's early read (bench/run_issue21_early_read.sh)"
  echo; echo "## 8c4f82f, early reads off"; "$PY" -m bench.users_pass "$BASE"/bench/results/runs/i21u_old_no_early*
  echo; echo "## 8c4f82f as it was (user_fields read during the imports)"; "$PY" -m bench.users_pass "$BASE"/bench/results/runs/i21u_old[0-9]*
  echo; echo "## this code"; "$PY" -m bench.users_pass bench/results/runs/i21u_new*
} > bench/results/i21_users_pass_early_read.md
rm -rf "$BASE" bench/results/runs/i21u_new*
