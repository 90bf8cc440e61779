#!/usr/bin/env bash
# The whole test suite: lint, types, layering, then pytest. Run from the repository root
# inside an environment where `pip install -e '.[test]'` was done (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff"; ruff check qplan tests
ruff format --check qplan tests
echo "== mypy"; mypy
echo "== import-linter"; lint-imports
echo "== pytest"; python -m pytest -q -p no:cacheprovider "$@"
