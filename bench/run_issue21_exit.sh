#!/usr/bin/env bash
# issue 21, exit and start-up: bench/run_issue21.sh's runs (start-up, the users pass, the 20k
# head-to-head with the peer, the time from the summary to the process' end) against 8c4f82f, with the
# result files labelled i21e_*. bench/README.md, "Issue 21, exit and start-up", has the figures and the
# whole-process pairs taken beside them.
set -euo pipefail
LABEL=i21e exec "$(dirname "$0")/run_issue21.sh" "$@"
