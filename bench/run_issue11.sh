#!/usr/bin/env bash
# issue 11: the invocations behind bench/results/i11_*.md (run on HEAD plus these changes)
set -euxo pipefail
cd "$(dirname "$0")/.."
export RUNTIME__DLTHUB_TELEMETRY=false
PY=.venv/bin/python
uptime
$PY -m bench.run --users 20000,100000 --profiles lat50 --runs full --repeat 1 --contenders ours --resources users --label i11_users_pass
uptime
$PY -m bench.run --users 20000 --profiles lat50 --runs full --repeat 1 --contenders ours,peer --resources users,store_products,store_categories --label i11_vs_peer_20k --rss-cap-mb 6000
uptime
$PY -m bench.run --users 100000 --profiles lat50rl20 --runs full --repeat 1 --contenders ours --label i11_ratelimited
uptime
$PY -m bench.run --users 100000 --profiles lat50 --runs full --repeat 1 --contenders ours,peer --label i11_h2h_100k --rss-cap-mb 8000
uptime
BENCH_OURS_CONCURRENCY=8 RETURNING_SYNC_CONCURRENCY=8 $PY -m bench.run --users 1000000 --profiles lat50 --runs full --repeat 1 --contenders ours --resources users --label i11_1m
uptime
# after the limiter counted only the requests sent after an answer, and users pages went to dlt
# 1,000 rows at a time: again (bench/results/i11_*2, i11_*3)
$PY -m bench.run --users 100000 --profiles lat50rl20 --runs full --repeat 1 --contenders ours --label i11_ratelimited2
$PY -m bench.run --users 20000,100000 --profiles lat50 --runs full --repeat 1 --contenders ours --resources users --label i11_users_pass2
$PY -m bench.run --users 20000,100000 --profiles lat50 --runs full --repeat 1 --contenders ours --resources users --label i11_users_pass3
$PY -m bench.run --users 20000 --profiles lat50 --runs full --repeat 1 --contenders ours,peer --resources users,store_products,store_categories --label i11_vs_peer_20k2 --rss-cap-mb 6000
$PY -m bench.run --users 100000 --profiles lat50rl20 --runs full --repeat 1 --contenders ours --label i11_ratelimited3
# the users pass against its floor, every run above
$PY -m bench.users_pass bench/results/runs/i11_users_pass-* bench/results/runs/i11_users_pass2-* \
    bench/results/runs/i11_users_pass3-* "$(ls -d bench/results/runs/i11_1m-*):8" > bench/results/i11_users_pass_floor.md
# on a quiet machine, at the end of the session
$PY -m bench.run --users 20000,100000 --profiles lat50 --runs full --repeat 2 --contenders ours --resources users --label i11_users_pass_quiet
$PY -m bench.users_pass bench/results/runs/i11_users_pass_quiet-* > bench/results/i11_users_pass_quiet_floor.md
$PY -m bench.run --users 100000 --profiles lat50rl20 --runs full --repeat 1 --contenders ours --label i11_ratelimited_quiet
# third pass, after the deeper users read-ahead, the kept dlt pipeline and the sync's quick exit
# (a quiet machine: nothing else running; bench/results/i11s3_*)
$PY -m bench.startup --runs 9 --label i11s3_startup
$PY -m bench.run --users 20000,100000 --profiles lat50 --runs full --repeat 2 --contenders ours --resources users --label i11s3_users_pass
$PY -m bench.users_pass bench/results/runs/i11s3_users_pass-* > bench/results/i11s3_users_pass_floor.md
$PY -m bench.run --users 100000 --profiles lat50rl20 --runs full --repeat 2 --contenders ours --label i11s3_ratelimited
$PY -m bench.run --users 20000 --profiles lat50 --runs full --repeat 1 --contenders ours,peer --resources users,store_products,store_categories --label i11s3_vs_peer_20k --rss-cap-mb 6000
$PY -m bench.run --users 100000 --profiles lat50 --runs full --repeat 1 --contenders ours,peer --label i11s3_h2h_100k --rss-cap-mb 8000
BENCH_OURS_CONCURRENCY=8 RETURNING_SYNC_CONCURRENCY=8 $PY -m bench.run --users 1000000 --profiles lat50 --runs full --repeat 1 --contenders ours --resources users --label i11s3_1m
$PY -m bench.users_pass "$(ls -d bench/results/runs/i11s3_1m-*):8" > bench/results/i11s3_1m_floor.md
$PY -m bench.run --users 20000 --profiles lat50 --runs full --repeat 4 --contenders ours --resources users --label i11s3_users_pass20k
# fourth pass, after the cuts read off each range's first page, splitting only chains that would
# outlast the community's pages over the workers, and pandas dropped (a quiet machine; i11s4_*)
$PY -m bench.startup --runs 9 --label i11s4_startup
$PY -m bench.run --users 20000,100000 --profiles lat50 --runs full --repeat 5 --contenders ours --resources users --label i11s4_users_pass
$PY -m bench.users_pass bench/results/runs/i11s4_users_pass-* > bench/results/i11s4_users_pass_floor.md
$PY -m bench.run --users 100000 --profiles lat50rl20 --runs full --repeat 2 --contenders ours --label i11s4_ratelimited
$PY -m bench.run --users 20000 --profiles lat50 --runs full --repeat 3 --contenders ours,peer --resources users,store_products,store_categories,leaderboards --label i11s4_vs_peer_20k --rss-cap-mb 6000
$PY -m bench.run --users 100000 --profiles lat50 --runs full --repeat 2 --contenders ours,peer --label i11s4_h2h_100k --rss-cap-mb 8000
BENCH_OURS_CONCURRENCY=8 RETURNING_SYNC_CONCURRENCY=8 $PY -m bench.run --users 1000000 --profiles lat50 --runs full --repeat 1 --contenders ours --resources users --label i11s4_1m
$PY -m bench.users_pass "$(ls -d bench/results/runs/i11s4_1m-*):8" > bench/results/i11s4_1m_floor.md
# the range choice alone, offline (a fake 7.1 in process, 20 ms + up to 30% a request); the _before
# file is the same command run on commit 1c5aa50 (the previous range choice)
$PY -m bench.ranges_offline --label i11s4_ranges_offline
