#!/usr/bin/env bash
# Installs the Debian 12 packages wsg needs to build, test and run.
# Idempotent: runs `apt-get update` only when a package is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libcli11-dev libtomlplusplus-dev cppzmq-dev libzmq3-dev libspdlog-dev
  catch2 prometheus-cpp-dev libjwt-dev libssl-dev
  python3 python3-websockets curl
  clang-14 libclang-rt-14-dev
  chromium
)
# The browser test (tests/browser) also needs Node.js >= 20 and npm. The machines come with them
# (not from Debian); only where node is missing altogether are Debian's taken (Debian 12's Node.js
# is 18: too old for playwright-core, whose start-up then says so).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
