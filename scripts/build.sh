#!/usr/bin/env bash
# Configures and builds wsg in a build directory: scripts/build.sh DIR [cmake options...]
# Installs missing Debian packages first (scripts/setup.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-build}"
shift || true
bash "$here/scripts/setup.sh"
cmake -S "$here" -B "$here/$dir" "$@" >/dev/null
cmake --build "$here/$dir" -j"$(nproc)"
