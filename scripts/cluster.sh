#!/usr/bin/env bash
# Runs a local wsg cluster for development, on loopback.
#   scripts/cluster.sh up [N]   set up, build, start a master and N nodes (default 2)
#   scripts/cluster.sh down     stop them (SIGTERM: nodes drain)
#   scripts/cluster.sh status   each process (pid, alive, /healthz) and the master's view (wsg status)
#   scripts/cluster.sh logs [NAME] [LINES]
#                               follow the logs (all of them, or master / node-1 / ...), Ctrl-C stops
# Nodes 1 and 2 use examples/config/node-1.toml and node-2.toml (ports 8081, 8082); node K > 2
# listens on 127.0.0.1:(8080+K) with events on tcp://127.0.0.1:(6000+K). Every node serves the demo
# chat page (examples/web) at http://127.0.0.1:PORT/. State and logs: .cluster/
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$here/.cluster"
wsg="$here/build/wsg"
master_addr="tcp://127.0.0.1:5555"

start() {  # name, args...
  local name="$1"; shift
  # From the repository root, wherever this script is run from: relative paths in the configs
  # (http.static_dir = "examples/web") are relative to the working directory.
  (cd "$here" && exec nohup "$wsg" "$@" >"$state/$name.log" 2>&1) &
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
  # Only what building and running needs (scripts/setup.sh run): no test suites, so no Catch2.
  WSG_SETUP=run bash "$here/scripts/build.sh" build -DWSG_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release
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
        --events-bind "tcp://127.0.0.1:$((6000 + k))" --static-dir examples/web
      ports+=("$((8080 + k))")
    fi
  done
  for p in "${ports[@]}"; do wait_healthy "$p"; done
  "$wsg" status --master "$master_addr"
  echo
  echo "wsg cluster is up: master $master_addr, ${#ports[@]} nodes."
  local users=(alice bob carol dave erin frank grace heidi) i=0
  for p in "${ports[@]}"; do
    echo "  demo:    http://127.0.0.1:$p/   (the chat page, served by node-$((i + 1)))"
    i=$((i + 1))
  done
  echo "           open two of them, connect as two users, and write to each other (docs/demo.md)"
  i=0
  for p in "${ports[@]}"; do
    echo "  connect: ws://127.0.0.1:$p/ws?user=${users[$((i % 8))]}   (health: http://127.0.0.1:$p/healthz)"
    i=$((i + 1))
  done
  echo "  try:     /usr/bin/python3 -m websockets 'ws://127.0.0.1:${ports[0]}/ws?user=alice'"
  if ! /usr/bin/python3 -c 'import websockets' >/dev/null 2>&1; then
    echo "           (needs Debian's python3-websockets: apt-get install python3-websockets)"
  fi
  echo "           then type {\"type\":\"send\",\"to\":\"bob\",\"body\":\"hi\",\"id\":\"c1\"}"
  echo "  api:     $wsg api publish --to bob --body '{\"text\":\"hi from the backend\"}'   (node-1's server API,"
  echo "           http://127.0.0.1:9081 on loopback without a key; docs/api.md)"
  echo "  logs:    scripts/cluster.sh logs [node-1]   status: scripts/cluster.sh status   stop: scripts/cluster.sh down"
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

node_port() {  # node name -> its WebSocket port (node-K listens on 8080+K)
  echo $((8080 + ${1#node-}))
}

status() {
  [ -d "$state" ] || { echo "no cluster state in $state (scripts/cluster.sh up starts one)"; return 1; }
  printf '%-8s %-8s %-6s %s\n' PROCESS PID STATE HEALTH
  for f in "$state"/master.pid "$state"/node-*.pid; do
    [ -f "$f" ] || continue
    local name pid alive health="-"
    name="$(basename "$f" .pid)"; pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then alive=up; else alive=DOWN; fi
    if [ "$name" != master ]; then
      local port; port="$(node_port "$name")"
      health="$(curl -sS -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz" 2>/dev/null || true)"
      health="http://127.0.0.1:$port/healthz -> ${health:-no answer}"
    fi
    printf '%-8s %-8s %-6s %s\n' "$name" "$pid" "$alive" "$health"
  done
  echo
  "$wsg" status --master "$master_addr"
}

logs() {  # [name] [lines]
  local name="${1:-}" lines="${2:-20}"
  [ -d "$state" ] || { echo "no cluster state in $state" >&2; return 1; }
  if [ -n "$name" ]; then
    [ -f "$state/$name.log" ] || { echo "no log $state/$name.log" >&2; return 1; }
    exec tail -n "$lines" -F "$state/$name.log"
  fi
  exec tail -n "$lines" -F "$state"/*.log
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  logs) shift; logs "$@" ;;
  *) echo "usage: scripts/cluster.sh up [N] | down | status | logs [NAME] [LINES]" >&2; exit 2 ;;
esac
