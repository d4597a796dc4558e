#!/usr/bin/env bash
# Installs the Debian 12 packages wsg needs: scripts/setup.sh [run|test]
#   run    what building and running wsg needs: the compiler, CMake, the libraries' -dev packages
#          (jemalloc's included: wsg allocates with it),
#          and curl (scripts/cluster.sh asks the nodes' /healthz with it). Used by scripts/cluster.sh.
#   test   all of run, plus what only the test suite needs (the default, so that a plain
#          `scripts/setup.sh` still installs everything): Catch2; clang-14 and libclang-rt-14-dev
#          (the libFuzzer builds of scripts/fuzz.sh); clang-format-14 (scripts/check-format.sh);
#          python3-websockets (the external-client test and the netns test's driver);
#          iproute2 (`ip`: the network-namespace test, tests/netns, registered only where it exists);
#          dpkg-dev (dpkg-shlibdeps: the Debian package's dependencies, scripts/package.sh);
#          Chromium, Node.js and npm (the browser test of the demo page).
# Idempotent: runs `apt-get update` only when a package is missing.
set -euo pipefail

set_name="${1:-test}"
case "$set_name" in
  run | test) ;;
  *)
    echo "usage: scripts/setup.sh [run|test] (default: test)" >&2
    exit 2
    ;;
esac

PACKAGES=(
  build-essential cmake pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libcli11-dev libtomlplusplus-dev cppzmq-dev libzmq3-dev libspdlog-dev
  prometheus-cpp-dev libssl-dev libjemalloc-dev libjwt-dev
  curl
)
if [ "$set_name" = test ]; then
  PACKAGES+=(
    catch2
    clang-14 libclang-rt-14-dev clang-format-14
    python3 python3-websockets
    iproute2
    dpkg-dev
    chromium
  )
  # The browser test (tests/browser) also needs Node.js >= 20 and npm. The machines come with them
  # (not from Debian); only where node is missing altogether are Debian's taken (Debian 12's Node.js
  # is 18: too old for playwright-core, whose start-up then says so).
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
  fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup ($set_name): installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup ($set_name): all packages present"
fi
