#!/usr/bin/env bash
# The layering check must refuse what it exists to refuse: run scripts/check-layers.sh over a copy
# of the real src/layers.txt with a few small trees, and expect it to pass the clean one and to fail
# each bad one (an include up the layers, a role including another role, an include not written
# from src/, a file outside every layer).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fails=0

make_tree() {  # a minimal tree with the real table and one header per layer
  rm -rf "$work/t" && mkdir -p "$work/t/src" "$work/t/cli"
  cp "$here/src/layers.txt" "$work/t/src/"
  mkdir -p "$work/t/scripts" && cp "$here/scripts/check-layers.sh" "$work/t/scripts/"
  for d in text proto config telemetry cache routing net roles/node roles/master roles/status; do
    mkdir -p "$work/t/src/$d"
    echo "#pragma once" >"$work/t/src/$d/a.h"
  done
  printf '#include "routing/a.h"\n#include "text/a.h"\n' >"$work/t/src/net/b.cpp"
  printf '#include "roles/node/a.h"\n#include "config/a.h"\n' >"$work/t/cli/main.cpp"
}
expect() {  # expect pass|fail, description
  local want="$1" what="$2" out rc
  out="$(bash "$work/t/scripts/check-layers.sh" "$work/t" 2>&1)"; rc=$?
  if [[ "$want" == pass && $rc -ne 0 ]] || [[ "$want" == fail && $rc -eq 0 ]]; then
    echo "FAIL: $what: expected $want, got rc=$rc"; echo "$out"; fails=$((fails + 1))
  else
    echo "ok: $what ($want)"
  fi
}

make_tree; expect pass "a tree whose includes run down the layers"
make_tree; echo '#include "net/a.h"' >>"$work/t/src/routing/a.h"; expect fail "routing including net (up the layers)"
make_tree; echo '#include "roles/node/a.h"' >>"$work/t/src/net/a.h"; expect fail "net including a role"
make_tree; echo '#include "roles/master/a.h"' >>"$work/t/src/roles/node/a.h"; expect fail "one role including another"
make_tree; echo '#include "telemetry/a.h"' >>"$work/t/src/config/a.h"; expect fail "config including telemetry"
make_tree; echo '#include "a.h"' >>"$work/t/src/proto/b.cpp"; expect fail "an include not written from src/"
make_tree; echo '#pragma once' >"$work/t/src/stray.h"; expect fail "a file outside every layer"

((fails == 0)) || exit 1
