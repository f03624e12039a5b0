#!/usr/bin/env bash
# Installs everything the test suite needs, then runs it. Usage: sudo bash deploy/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh test
echo "==> running the test suite"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
