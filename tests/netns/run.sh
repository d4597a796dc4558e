#!/usr/bin/env bash
# The network-namespace test (docs/netns.md): builds the cluster of scripts/netns-cluster.sh twice,
# one after the other (one cluster at a time: the namespace names are fixed) — with one master for
# scenarios (a)-(c), then with two (m1, m2) for (d)-(f) — runs tests/netns/driver.py on its client
# host each time, and always tears the cluster down (trap), also on failure, Ctrl-C or timeout.
# Root only (it creates namespaces); a process that cannot create one FAILS here, it does not skip.
#   bash tests/netns/run.sh --wsg build/wsg [--keep] [--only abcdef] [other driver options]
# --only picks scenarios; a cluster whose scenarios are all left out is not built. --keep leaves
# the last cluster built up.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
script="$here/../../scripts/netns-cluster.sh"
wsg="" keep=0 only=abcdef pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wsg) wsg="$2"; shift 2 ;;
    --keep) keep=1; shift ;;   # leave the cluster up after the test (for a look at its logs)
    --only) only="$2"; shift 2 ;;
    *) pass+=("$1"); shift ;;
  esac
done
[ -n "$wsg" ] || { echo "usage: tests/netns/run.sh --wsg PATH [--keep] [--only abcdef] [driver options]" >&2; exit 2; }
[[ "$only" =~ ^[a-f]+$ ]] || { echo "run.sh: --only takes letters of abcdef" >&2; exit 2; }
one="${only//[^abc]/}" two="${only//[^def]/}"
py=/usr/bin/python3  # Debian's, with python3-websockets (a pyenv python3 on PATH may lack it)

fail() { echo "netns test: FAIL: $*" >&2; exit 1; }
command -v ip >/dev/null || fail "'ip' (iproute2) is missing"
"$py" -c 'import websockets' 2>/dev/null || fail "$py cannot import websockets (apt-get install python3-websockets)"
probe="wsg-probe-$$"
if ! err="$(ip netns add "$probe" 2>&1)"; then
  fail "this process cannot create a network namespace ($err); the test needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)"
fi
ip netns del "$probe"

driver=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true  # timeout(1) passes it on to the driver
    wait "$driver" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ]; then
    local d; d="$(cat "${TMPDIR:-/tmp}/${WSG_NETNS_PREFIX:-wsg-}netns-cluster.state" 2>/dev/null || true)"
    if [ -n "$d" ] && [ -d "$d" ]; then
      for f in "$d"/*.log; do echo "--- $(basename "$f") (last 30 lines)"; tail -n 30 "$f"; done
    fi
  fi
  if [ "$keep" -eq 1 ]; then
    echo "netns test: --keep: cluster left up (scripts/netns-cluster.sh status / down)"
  else
    bash "$script" down >/dev/null 2>&1 || bash "$script" down
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start=$(date +%s.%N)
elapsed() { awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

run() {  # number of masters, scenarios
  local t; t=$(date +%s.%N)
  bash "$script" up --wsg "$wsg" --masters "$1" --timeout 20
  echo "netns test: cluster with $1 master(s) up in $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
  # The driver bounds every scenario (60 s each) and every loop; timeout(1) is the last resort. In
  # the background, so that a SIGTERM or Ctrl-C to this script is handled at once (bash runs
  # traps only between commands, and `wait` is interrupted by them); the trap stops the driver first.
  timeout -k 5 100 bash "$script" exec c "$py" "$here/driver.py" --script "$script" --only "$2" "${pass[@]}" &
  driver=$!
  wait "$driver"
  driver=""
}

if [ -n "$one" ]; then
  run 1 "$one"
  if [ -n "$two" ]; then bash "$script" down >/dev/null; fi  # `up` would too; the time is clearer
fi
if [ -n "$two" ]; then run 2 "$two"; fi
echo "netns test: passed in $(elapsed) s"
