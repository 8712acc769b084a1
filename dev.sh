#!/usr/bin/env bash
# The project's set-up and its two entry points on a fresh machine with Python 3.11:
#   ./dev.sh demo   install, then run the demo (simulator + full sync through Dagster + models + dry runs)
#   ./dev.sh test   install, then run ruff and the whole test suite
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

setup_python() {
  if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
  fi
  # reinstall only when the project's dependency list changed
  if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet -e '.[dev]'
    touch .venv/.installed
  fi
}

setup_browser() {
  # Debian's headless Chromium for the UI test (no browser download from elsewhere).
  if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
    else
      echo "warning: chromium not found and apt-get unavailable; the browser test will be skipped" >&2
    fi
  fi
}

setup_postgres() {
  # Debian's PostgreSQL server for the Postgres tests (tests/pgcluster.py starts a throwaway cluster
  # from it). Not needed when RETURNING_TEST_POSTGRES_URL names a server or RETURNING_TEST_POSTGRES=off.
  if [ -n "${RETURNING_TEST_POSTGRES_URL:-}" ] || [ "${RETURNING_TEST_POSTGRES:-}" = "off" ]; then
    return
  fi
  if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
    else
      echo "warning: PostgreSQL not found and apt-get unavailable; the Postgres tests will fail saying so" >&2
    fi
  fi
}

case "${1:-}" in
  demo)
    shift
    setup_python
    exec .venv/bin/returning-sync demo "$@"
    ;;
  test)
    shift
    setup_python
    setup_browser
    setup_postgres
    .venv/bin/ruff check .
    # two workers: the suite waits on servers and subprocesses as much as it computes (about 8 min on 2 cores)
    exec .venv/bin/python -m pytest -q -n 2 "$@"
    ;;
  setup)
    setup_python
    setup_browser
    setup_postgres
    ;;
  *)
    echo "usage: ./dev.sh demo|test|setup" >&2
    exit 2
    ;;
esac
