#!/usr/bin/env bash
# issue 21: start-up, the users pass, the head-to-head and the sync's exit, after early.py and the
# quick exit were removed, against the code that still had them (BASE, default 8c4f82f), in the same
# minutes: batches alternate between this checkout ("new") and BASE ("old"), both on this virtualenv
# (BASE first on PYTHONPATH). bench/README.md, "Issue 21 re-measure" (labels i21_*) and "Issue 21,
# exit and start-up" (LABEL=i21e, bench/run_issue21_exit.sh), has the figures.
set -euxo pipefail
cd "$(dirname "$0")/.."
export RUNTIME__DLTHUB_TELEMETRY=false
PY="$PWD/.venv/bin/python"
BASE_COMMIT=${BASE_COMMIT:-8c4f82f}
L=${LABEL:-i21}  # the result files' prefix
BASE=$(mktemp -d /tmp/returning-base-XXXX)
git archive "$BASE_COMMIT" | tar -x -C "$BASE"
new() { "$PY" -m "$@"; }
old() { (cd "$BASE" && PYTHONPATH="$BASE" "$PY" -m "$@"); }
for i in 1 2; do
  new bench.startup --runs 5 --label "${L}_startup_new$i"
  old bench.startup --runs 5 --label "${L}_startup_old$i"
done
for i in 1 2; do
  new bench.run --users 20000 --profiles lat50 --runs full --repeat 1 --contenders ours --resources users --label "${L}_users_pass_new$i"
  old bench.run --users 20000 --profiles lat50 --runs full --repeat 1 --contenders ours --resources users --label "${L}_users_pass_old$i"
done
new bench.run --users 20000 --profiles lat50 --runs full --repeat 1 --contenders ours,peer \
    --resources users,store_products,store_categories,leaderboards --label ${L}_vs_peer_20k_new --rss-cap-mb 6000
old bench.run --users 20000 --profiles lat50 --runs full --repeat 1 --contenders ours,peer \
    --resources users,store_products,store_categories,leaderboards --label ${L}_vs_peer_20k_old --rss-cap-mb 6000
cp "$BASE"/bench/results/${L}_* bench/results/ && cp -r "$BASE"/bench/results/runs/${L}_* bench/results/runs/
"$PY" -m bench.users_pass bench/results/runs/${L}_users_pass_new* > bench/results/${L}_users_pass_new_floor.md
"$PY" -m bench.users_pass bench/results/runs/${L}_users_pass_old* > bench/results/${L}_users_pass_old_floor.md
"$PY" -m bench.exit_time --runs 4 --users 20000 --other "$BASE" --label ${L}_exit_time
rm -rf "$BASE"
