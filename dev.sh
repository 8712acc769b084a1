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
    .venv/bin/ruff check .
    exec .venv/bin/python -m pytest -q "$@"
    ;;
  setup)
    setup_python
    setup_browser
    ;;
  *)
    echo "usage: ./dev.sh demo|test|setup" >&2
    exit 2
    ;;
esac
