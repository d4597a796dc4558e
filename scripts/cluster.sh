#!/usr/bin/env bash
# Runs a local wsg cluster for development, on loopback.
#   scripts/cluster.sh up [N]   set up, build, start a master and N nodes (default 2)
#   scripts/cluster.sh down     stop them (SIGTERM: nodes drain)
#   scripts/cluster.sh status   the master's view (wsg status)
# Nodes 1 and 2 use examples/config/node-1.toml and node-2.toml (ports 8081, 8082); node K > 2
# listens on 127.0.0.1:(8080+K) with events on tcp://127.0.0.1:(6000+K). State and logs: .cluster/
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$here/.cluster"
wsg="$here/build/wsg"
master_addr="tcp://127.0.0.1:5555"

start() {  # name, args...
  local name="$1"; shift
  nohup "$wsg" "$@" >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

wait_healthy() {  # port
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "node on port $1 did not become healthy; see $state/*.log" >&2
  return 1
}

up() {
  local n="${1:-2}"
  bash "$here/scripts/build.sh" build -DWSG_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release
  down >/dev/null 2>&1 || true
  mkdir -p "$state"
  start master master --config "$here/examples/config/master.toml"
  local ports=()
  for k in $(seq 1 "$n"); do
    if [ "$k" -le 2 ]; then
      start "node-$k" node --config "$here/examples/config/node-$k.toml"
      ports+=("$((8080 + k))")
    else
      start "node-$k" node --id "node-$k" --listen "127.0.0.1:$((8080 + k))" --master "$master_addr" \
        --events-bind "tcp://127.0.0.1:$((6000 + k))"
      ports+=("$((8080 + k))")
    fi
  done
  for p in "${ports[@]}"; do wait_healthy "$p"; done
  "$wsg" status --master "$master_addr"
  echo
  echo "wsg cluster is up: master $master_addr, ${#ports[@]} nodes."
  local users=(alice bob carol dave erin frank grace heidi) i=0
  for p in "${ports[@]}"; do
    echo "  connect: ws://127.0.0.1:$p/ws?user=${users[$((i % 8))]}   (health: http://127.0.0.1:$p/healthz)"
    i=$((i + 1))
  done
  echo "  try:     /usr/bin/python3 -m websockets 'ws://127.0.0.1:${ports[0]}/ws?user=alice'"
  echo "           then type {\"type\":\"send\",\"to\":\"bob\",\"body\":\"hi\",\"id\":\"c1\"}"
  echo "  logs:    $state/*.log      stop: scripts/cluster.sh down"
}

down() {
  [ -d "$state" ] || { echo "no cluster running"; return 0; }
  local pids=()
  for f in "$state"/node-*.pid "$state"/master.pid; do
    [ -f "$f" ] || continue
    local pid; pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; pids+=("$pid"); fi
    rm -f "$f"
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  echo "stopped ${#pids[@]} processes"
}

status() {
  "$wsg" status --master "$master_addr"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  *) echo "usage: scripts/cluster.sh up [N] | down | status" >&2; exit 2 ;;
esac
