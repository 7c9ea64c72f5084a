#!/usr/bin/env bash
# The long schemathesis conformance run: every operation of the app's own OpenAPI schema,
# signed in as a user and as an administrator, on PostgreSQL and SQLite, many examples.
#   scripts/conformance.sh                 # 200 examples per operation, a random seed
#   CONFORMANCE_SEED=42 scripts/conformance.sh
#   CONFORMANCE_MAX_EXAMPLES=1000 CONFORMANCE_BACKENDS=postgresql scripts/conformance.sh
# `make test` runs the short version of the same test (tests/conformance/test_schemathesis.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
make install
export CONFORMANCE_MAX_EXAMPLES="${CONFORMANCE_MAX_EXAMPLES:-200}"
export CONFORMANCE_SEED="${CONFORMANCE_SEED:-$RANDOM}"
export CONFORMANCE_BACKENDS="${CONFORMANCE_BACKENDS:-postgresql,sqlite}"
echo "schemathesis: $CONFORMANCE_MAX_EXAMPLES examples per operation, seed $CONFORMANCE_SEED," \
  "backends $CONFORMANCE_BACKENDS"
exec .venv/bin/python -m pytest tests/conformance/test_schemathesis.py -q \
  --hypothesis-seed="$CONFORMANCE_SEED" "$@"
