#!/usr/bin/env bash
# The test command: install what is missing, then lint, type-check and run every test.
# Under CI=true a missing part fails the run instead of skipping tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check src tests bench
echo "== mypy --strict (src, tests and bench: [tool.mypy] files)"; mypy
echo "== pytest"
pytest -q -p no:cacheprovider "$@"
