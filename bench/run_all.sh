#!/usr/bin/env bash
# The invocations behind bench/results/*.md, in the order they were run (see each file's header for
# when, and the machine's load then). Each writes bench/results/<label>.{json,md} and one JSON per run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# 1. community size: users only, ours and the peer (the peer's 1M run is long; --rss-cap-mb guards the machine)
$PY -m bench.run --users 10000,100000,1000000 --profiles none --runs full --repeat 1 \
    --contenders ours,peer --resources users --label scale --rss-cap-mb 8000

# 2. every profile and run kind once, 100k users, head-to-head endpoint set
$PY -m bench.run --users 100000 --profiles none,lat50,lat50rl20 --runs full,noop,day --repeat 1 \
    --contenders ours,peer --label matrix1 --rss-cap-mb 8000

# 3. the no-change goal on ours' whole resource set (request counts; a smaller community keeps the
#    first sync's per-user activity stats short)
$PY -m bench.run --users 10000 --profiles none --runs noop --repeat 1 --contenders ours \
    --resources all --label noop_all

# 4. what two well-known rest_api switches change: parallelized dependent resource, parquet files
$PY -m bench.run --users 100000 --profiles lat50 --runs full --repeat 1 \
    --contenders ours,peer_par,peer_pq --label peer_variants --rss-cap-mb 8000

# 5. the quoted full syncs on the two network profiles the goals name: 3 repeats, contenders alternating
$PY -m bench.run --users 100000 --profiles lat50,lat50rl20 --runs full --repeat 3 \
    --contenders ours,peer --label final_full --rss-cap-mb 8000

# 6. the table the README quotes: the quoted full syncs + step 2's other cells (1 run each)
$PY -m bench.run --merge "final_full,matrix1:run=noop+day,matrix1:profile=none:run=full" --label latest
