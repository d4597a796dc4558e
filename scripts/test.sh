#!/usr/bin/env bash
# Installs what is missing, builds wsg with its tests, and runs the whole test suite.
# Used as-is by .ci/run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
jobs="$(nproc)"

echo "== build (Release, warnings as errors)"
bash scripts/build.sh build-test -DCMAKE_BUILD_TYPE=Release -DWSG_WARNINGS_AS_ERRORS=ON -DWSG_BUILD_TESTS=ON
echo "== tests (Release)"
ctest --test-dir build-test --output-on-failure -j"$jobs"
