#!/usr/bin/env bash
# Run the whole test suite (lint, types, tests) from the locked environment.
#   bash scripts/test.sh            # everything, slow tests included
#   bash scripts/test.sh -m "not slow" tests/features   # extra pytest arguments pass through
# PostgreSQL tests run when BERTH_TEST_DATABASE_URL is set (.ci/run sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/_uv.sh
source scripts/_uv.sh
uv sync --locked --quiet
uv run ruff check src tests benchmarks notebooks
uv run ruff format --check src tests benchmarks notebooks
uv run mypy
uv run pytest "$@"
