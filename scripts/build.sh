#!/usr/bin/env bash
# Configures and builds wsg in a build directory: scripts/build.sh DIR [cmake options...]
# Installs missing Debian packages first (scripts/setup.sh): the test set by default, the smaller
# run set with WSG_SETUP=run (scripts/cluster.sh, which builds without the tests).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-build}"
shift || true
bash "$here/scripts/setup.sh" "${WSG_SETUP:-test}"
cmake -S "$here" -B "$here/$dir" "$@" >/dev/null
# WSG_BUILD_TARGETS: build only these targets (scripts/test.sh's sanitizer stages), else all.
targets=()
for t in ${WSG_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$here/$dir" -j"$(nproc)" "${targets[@]}"
