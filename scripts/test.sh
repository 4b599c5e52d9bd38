#!/usr/bin/env bash
# `npm test`: everything but the real-cluster e2e suite (npm run test:e2e).
#   proto lint → native addon → TypeScript build → vitest (unit specs, server
#   suites, independent clients, real containers: root needed for those).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== node $(node --version)"
npx buf lint
npm run --silent build:native >/dev/null
npm run --silent build
npx vitest run "$@"
