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

# 5. community size again on the current sync (ours only; the peer's code did not change), merged
$PY -m bench.run --users 10000,100000,1000000 --profiles none --runs full --repeat 1 --contenders ours \
    --resources users --label scale2
$PY -m bench.run --merge "scale2,scale:contender=peer" --label scale_latest

# 6. the quoted full syncs: 3 repeats per profile, contenders alternating
$PY -m bench.run --users 100000 --profiles lat50,lat50rl20,none --runs full --repeat 3 \
    --contenders ours,peer --label final_full --rss-cap-mb 8000

# 7. ours' no-change and next-day syncs on the current code (the peer's are step 2's)
$PY -m bench.run --users 100000 --profiles none,lat50,lat50rl20 --runs noop,day --repeat 1 \
    --contenders ours --label matrix2

# 8. the table the README quotes
$PY -m bench.run --merge "final_full,matrix2:run=noop+day,matrix1:contender=peer:run=noop+day" --label latest

# --- 2026-11-26: daily history re-reads only users who moved; client paces at 95% of the limit;
#     the users cursor chain reads ahead. Re-measured on that code:
# 9. the no-change goal on every resource again
$PY -m bench.run --users 10000 --profiles none --runs noop --repeat 1 --contenders ours \
    --resources all --label noop_all2

# 10. the quoted full syncs, 3 repeats per profile, contenders alternating
$PY -m bench.run --users 100000 --profiles lat50,lat50rl20,none --runs full --repeat 3 \
    --contenders ours,peer --label final_full2 --rss-cap-mb 8000

# 11. ours' no-change and next-day syncs
$PY -m bench.run --users 100000 --profiles none,lat50,lat50rl20 --runs noop,day --repeat 1 \
    --contenders ours --label matrix3

# 12. the table the README quotes (the peer's no-change and next-day runs are step 2's)
$PY -m bench.run --merge "final_full2,matrix3:run=noop+day,matrix1:contender=peer:run=noop+day" --label latest

# --- 2026-12-01: the destination axis (bench/destinations.py): DuckDB and Postgres in one invocation,
#     Postgres' own COPY of the same rows as the floor, and dlt's loader file formats for Postgres.
#     Postgres is a throwaway server the harness starts (tests/pgcluster.py). postgres:parquet goes
#     through ADBC, which the project does not depend on: installed beside it, for that run only.
$PY -m pip install -q --no-deps --target /tmp/bench-adbc adbc-driver-postgresql adbc-driver-manager
# 13. 100k users, head-to-head set, full and no-change syncs, 3 repeats, destinations alternating
$PY -m bench.destinations --users 100000 \
    --destinations duckdb,postgres:insert_values,postgres:csv,postgres:parquet --adbc-path /tmp/bench-adbc \
    --repeat 3 --label destinations

# 14. memory at 1,000,000 users on Postgres: users dataset, full sync, the shipped format (sync.py's)
$PY -m bench.destinations --users 1000000 --resources users --destinations postgres --runs full \
    --repeat 1 --label destinations_1m

# 15. the same at 1,000,000 users with csv, for comparison (not shipped: see destinations.md's notes)
$PY -m bench.destinations --users 1000000 --resources users --destinations postgres:csv --runs full \
    --repeat 1 --label destinations_1m_csv

# 16. 2026-12-01, after Arrow tables load by COPY on Postgres (pipelines/sync.py ARROW_FILE_FORMATS)
$PY -m bench.destinations --users 100000 --destinations duckdb,postgres --repeat 2 --label destinations_mixed
$PY -m bench.destinations --users 1000000 --resources users --destinations postgres --runs full \
    --repeat 1 --label destinations_1m_mixed
$PY -m bench.webhooks --repeat 2 --label webhooks_quiet   # 17. the receiver, on a quiet machine
