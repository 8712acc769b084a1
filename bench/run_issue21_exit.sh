#!/usr/bin/env bash
# issue 21, exit and start-up: this checkout ("new") against the code that still had early.py and the
# quick exit (BASE, default 8c4f82f; "old"), in the same minutes, batches alternating, both on this
# virtualenv (BASE first on PYTHONPATH): start-up, the users pass, the 20k head-to-head with the peer,
# and the time from the summary to the process' end. bench/README.md, "Issue 21, exit and start-up",
# has the figures and the whole-process pairs taken beside them.
set -euxo pipefail
cd "$(dirname "$0")/.."
export RUNTIME__DLTHUB_TELEMETRY=false
PY="$PWD/.venv/bin/python"
BASE_COMMIT=${BASE_COMMIT:-8c4f82f}
BASE=$(mktemp -d /tmp/returning-base-XXXX)
git archive "$BASE_COMMIT" | tar -x -C "$BASE"
new() { "$PY" -m "$@"; }
old() { (cd "$BASE" && PYTHONPATH="$BASE" "$PY" -m "$@"); }
for i in 1 2; do
  new bench.startup --runs 5 --label "i21e_startup_new$i"
  old bench.startup --runs 5 --label "i21e_startup_old$i"
done
for i in 1 2; do
  new bench.run --users 20000 --profiles lat50 --runs full --repeat 1 --contenders ours --resources users --label "i21e_users_pass_new$i"
  old bench.run --users 20000 --profiles lat50 --runs full --repeat 1 --contenders ours --resources users --label "i21e_users_pass_old$i"
done
new bench.run --users 20000 --profiles lat50 --runs full --repeat 1 --contenders ours,peer \
    --resources users,store_products,store_categories,leaderboards --label i21e_vs_peer_20k_new --rss-cap-mb 6000
old bench.run --users 20000 --profiles lat50 --runs full --repeat 1 --contenders ours,peer \
    --resources users,store_products,store_categories,leaderboards --label i21e_vs_peer_20k_old --rss-cap-mb 6000
cp "$BASE"/bench/results/i21e_* bench/results/ && cp -r "$BASE"/bench/results/runs/i21e_* bench/results/runs/
"$PY" -m bench.users_pass bench/results/runs/i21e_users_pass_new* > bench/results/i21e_users_pass_new_floor.md
"$PY" -m bench.users_pass bench/results/runs/i21e_users_pass_old* > bench/results/i21e_users_pass_old_floor.md
"$PY" -m bench.exit_time --runs 4 --users 20000 --other "$BASE" --label i21e_exit_time
rm -rf "$BASE"
