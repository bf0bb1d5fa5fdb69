#!/usr/bin/env bash
# The whole test suite on a fresh machine: provisions what is missing, type-checks, lints,
# builds, then runs every test against real PostgreSQL, Temporal and MinIO (started by the test
# setup on their own loopback ports). Ends with the line "N passed, N failed"; exits non-zero
# on any failure.
#
#   bash scripts/test.sh                  # everything
#   bash scripts/test.sh packages/store   # only the tests under a path (after the checks)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

current="provision"
step() { current="$1"; printf '\n== %s\n' "$1"; }
# A failing check stops the run; say which one, and close with the summary line CI reads.
trap 'rc=$?; if [[ $rc -ne 0 && "$current" != "tests" ]]; then echo "test.sh: the $current step failed (exit $rc); no test ran"; echo "0 passed, 1 failed"; fi' EXIT
bash scripts/provision.sh
export PATH="$ROOT/.tools/bin:$ROOT/.tools/node/bin:$PATH"

step "typecheck";  pnpm run --silent typecheck
step "lint";       pnpm exec eslint . && pnpm exec prettier --check . >/dev/null
step "build";      pnpm run --silent build

step "tests"
mkdir -p .test-results
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json=.test-results/vitest.json "$@" || status=$?

summary="$(node -e '
  const r = JSON.parse(require("fs").readFileSync(".test-results/vitest.json", "utf8"));
  const failedSuites = r.testResults.filter((s) => s.status === "failed" && s.assertionResults.every((a) => a.status !== "failed")).length;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + failedSuites} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
  process.exit(r.numTotalTests === 0 ? 3 : 0);
' 2>/dev/null)" || { echo "0 passed, 1 failed"; echo "no test results (vitest did not run or ran no test)" >&2; exit 1; }
echo
echo "$summary"
exit "$status"
