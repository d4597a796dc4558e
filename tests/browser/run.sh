#!/usr/bin/env bash
# Runs the browser end-to-end test (chat.spec.mjs), installing its npm dependencies first when they
# are missing (`npm ci`: exactly package-lock.json). Arguments go to chat.spec.mjs, e.g.
#   bash tests/browser/run.sh --wsg build/wsg --artifacts /tmp/wsg-browser
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
  echo "browser test: installing its npm dependencies (npm ci --prefix tests/browser)"
  npm ci --prefix "$here" --no-audit --no-fund >&2
fi
exec node "$here/chat.spec.mjs" "$@"
