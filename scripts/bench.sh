#!/usr/bin/env bash
# Runs every performance target of docs/benchmarks.md ("How to reproduce") on
# this machine, on loopback, and writes a results directory: one JSON report per run, the state
# the checks read (wsg status), and summary.md, the Markdown tables to paste into the docs.
#
#   scripts/bench.sh [--quick] [--build DIR] [--results DIR] [--steps 1,2,3,4,5,6] [--keep-logs]
#
#   1  closed-loop throughput: wsg-floor vs wsg, local (one node) and remote (two nodes)
#   2  the comparison with Socket.IO + Redis (bench/compare/run.sh)
#   3  idle: 19,000 sessions on one node (RSS per session), and on wsg-floor
#   4  four nodes x 19,000 sessions registered at the master (wsg status: master.sessions == 76,000)
#   5  open loop: 20,000 messages/s across two nodes (p99)
#   6  storm: sessions per second (connect, upgrade, welcome, close), wsg and wsg-floor
#
# --quick runs a small version of each step (a minute or two; checks that the script works).
# The binaries come from the build tree DIR (default build-test): DIR/wsg, wsg-bench and
# wsg-floor (DIR/bench/load, DIR/bench/floor); build it with
#   scripts/build.sh build-test -DCMAKE_BUILD_TYPE=Release
# Results default to bench-results/<UTC date-time>/. Every step is bounded in time; every process
# it starts is stopped on exit. Exit 0 when every run was clean (the reports' ok, the 76,000
# check), 1 otherwise, 2 on bad usage or when something could not be started.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

quick=0 build="build-test" results="" steps="1,2,3,4,5,6" keep_logs=0
usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case "$1" in
    --quick) quick=1; shift ;;
    --build) build="$2"; shift 2 ;;
    --results) results="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --keep-logs) keep_logs=1; shift ;;
    -h|--help) usage ;;
    *) echo "bench.sh: unknown argument $1" >&2; usage ;;
  esac
done
[[ "$build" = /* ]] || build="$root/$build"
wsg="$build/wsg"
bench="$build/bench/load/wsg-bench"
floor="$build/bench/floor/wsg-floor"
for b in "$wsg" "$bench" "$floor"; do
  [ -x "$b" ] || { echo "bench.sh: $b is missing: build with scripts/build.sh $(basename "$build") -DCMAKE_BUILD_TYPE=Release" >&2; exit 2; }
done
[ -n "$results" ] || results="$root/bench-results/$(date -u +%Y%m%dT%H%M%SZ)$( ((quick)) && echo -quick)"
[[ "$results" = /* ]] || results="$PWD/$results"
mkdir -p "$results"
work="$results/logs"
mkdir -p "$work"
want() { [[ ",$steps," == *",$1,"* ]]; }

# shellcheck source=../bench/lib.sh
source "$root/bench/lib.sh"
cleanup() {
  local rc=$?
  bench_cleanup
  ((keep_logs)) || ((rc != 0)) || rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Sessions need file descriptors: take the hard limit (20,000 here) for the nodes and wsg-bench.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit="$(ulimit -n)"

# ---- Sizes: the targets, or --quick ----------------------------------------------------------------
if ((quick)); then
  pairs=10 window=1 duration=2 warmup=1 body=64
  idle_sessions=500 idle_hold=1
  n4=4 per_node=250 cluster_hold=3
  open_rate=2000 open_pairs=20 open_duration=3
  storm_sessions=500 storm_concurrency=50
  compare_duration=2
else
  pairs=100 window=1 duration=10 warmup=2 body=64
  idle_sessions=19000 idle_hold=5
  n4=4 per_node=19000 cluster_hold=20
  open_rate=20000 open_pairs=100 open_duration=30
  storm_sessions=20000 storm_concurrency=200
  compare_duration=10
fi
# A node holds its sessions' sockets plus a few dozen of its own: its limit sits just above them.
node_max_connections=$((per_node > idle_sessions ? per_node : idle_sessions))
node_max_connections=$((node_max_connections + 100))
if ((node_max_connections + 200 > fd_limit)); then
  echo "bench.sh: WARNING: open-file limit $fd_limit is tight for $node_max_connections connections per node" >&2
fi
sources="127.0.0.1-127.0.0.40"
msg_opts=(--pairs "$pairs" --window "$window" --duration "$duration" --warmup "$warmup" --body-bytes "$body")
failures=()

# run_bench NAME BOUND_S wsg-bench ARGS...: one wsg-bench run, its report in $results/NAME.json.
run_bench() {
  local name="$1" bound="$2"; shift 2
  bench_log "$name: wsg-bench $*"
  if ! timeout -k 10 "$bound" "$bench" "$@" --timeout "$((bound - 15))" --json "$results/$name.json" \
      >"$work/$name.summary" 2>&1; then
    failures+=("$name")
  fi
  sed 's/^/   /' "$work/$name.summary" >&2
  [ -s "$results/$name.json" ] ||
    printf '{"ok":false,"problems":["wsg-bench wrote no report (see logs/%s.summary)"]}\n' "$name" >"$results/$name.json"
}

start_floor() {  # sets floor_port, floor_pid
  bench_start "floor-$1" "$floor" --listen 127.0.0.1:0
  floor_pid=$started_pid
  floor_port="$(bench_wait_listening "$work/floor-$1.log" "$floor_pid" wsg-floor)"
}

msg_bound=$(( ${duration%.*} + ${warmup%.*} + 60 ))

# ---- 1. Closed-loop throughput: floor and wsg, local and remote --------------------------------------
if want 1; then
  start_floor throughput
  run_bench 1-floor-local "$msg_bound" local --floor --ws "ws://127.0.0.1:$floor_port/ws" "${msg_opts[@]}" \
    --pid "floor=$floor_pid"
  run_bench 1-floor-remote "$msg_bound" remote --floor --ws "ws://127.0.0.1:$floor_port/ws" \
    --ws "ws://127.0.0.1:$floor_port/ws" "${msg_opts[@]}" --pid "floor=$floor_pid"
  bench_stop "$floor_pid"

  bench_wsg_cluster "$wsg" 2 0 throughput || exit 2
  # local: both users of a pair on node-1 (one node, as the floor is one process).
  run_bench 1-wsg-local "$msg_bound" local --ws "ws://127.0.0.1:${node_ports[0]}/ws" "${msg_opts[@]}" \
    --pid "master=$master_pid" --pid "node-1=${node_pids[0]}"
  run_bench 1-wsg-remote "$msg_bound" remote --ws "ws://127.0.0.1:${node_ports[0]}/ws" \
    --ws "ws://127.0.0.1:${node_ports[1]}/ws" "${msg_opts[@]}" "${cluster_pid_args[@]}"
  bench_wsg_cluster_stop
fi

# ---- 2. The comparison with Socket.IO + Redis ---------------------------------------------------------
if want 2; then
  bench_log "2-compare: bench/compare/run.sh"
  if ! timeout -k 10 $(( 3 * (compare_duration + warmup + 60) + 120 )) \
      bash "$root/bench/compare/run.sh" --pairs "$pairs" --window "$window" --duration "$compare_duration" \
      --warmup "$warmup" --body-bytes "$body" --wsg "$wsg" --bench "$bench" --floor "$floor" \
      --out "$results/2-compare.json" >"$work/2-compare.summary" 2>&1; then
    failures+=("2-compare")
  fi
  sed 's/^/   /' "$work/2-compare.summary" >&2
  [ -s "$results/2-compare.json" ] ||
    echo '{"ok":false,"problems":["bench/compare/run.sh wrote no summary (see logs/2-compare.summary)"]}' >"$results/2-compare.json"
fi

# ---- 3. Idle sessions on one node: RSS per session -------------------------------------------------------
idle_bound=$(( idle_sessions / 100 + idle_hold + 90 ))
if want 3; then
  bench_wsg_cluster "$wsg" 1 "$node_max_connections" idle || exit 2
  # Only the node's PID: its RSS per session is the figure (the master's is in target 4's run).
  run_bench 3-wsg-idle "$idle_bound" idle --ws "ws://127.0.0.1:${node_ports[0]}/ws" --sessions "$idle_sessions" \
    --hold "$idle_hold" --procs 2 --source-ips "$sources" --pid "node-1=${node_pids[0]}"
  bench_wsg_cluster_stop

  start_floor idle
  run_bench 3-floor-idle "$idle_bound" idle --floor --ws "ws://127.0.0.1:$floor_port/ws" \
    --sessions "$idle_sessions" --hold "$idle_hold" --procs 2 --source-ips "$sources" --pid "floor=$floor_pid"
  bench_stop "$floor_pid"
fi

# ---- 4. Four nodes x 19,000 sessions registered at the master ---------------------------------------------
if want 4; then
  total=$(( n4 * per_node ))
  bench_wsg_cluster "$wsg" "$n4" "$node_max_connections" cluster || exit 2
  mapfile -t ws_args < <(bench_ws_args "${node_ports[@]}")
  bound=$(( total / 100 + cluster_hold + 120 ))
  bench_log "4-cluster: $n4 nodes x $per_node sessions, holding ${cluster_hold} s; wsg status every 0.5 s"
  # wsg-bench spreads the sessions round-robin over the URLs: per_node on each node.
  timeout -k 10 "$bound" "$bench" idle "${ws_args[@]}" --sessions "$total" --hold "$cluster_hold" \
    --procs "$n4" --source-ips "$sources" --concurrency 400 "${cluster_pid_args[@]}" \
    --timeout "$((bound - 15))" --json "$results/4-cluster-idle.json" >"$work/4-cluster-idle.summary" 2>&1 &
  idle_pid=$!
  seen=0
  while kill -0 "$idle_pid" 2>/dev/null; do
    if "$wsg" status --master "$cluster_master" --json >"$work/status.tmp" 2>/dev/null; then
      n="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["master"]["sessions"])' "$work/status.tmp" 2>/dev/null || echo 0)"
      if ((n > seen)); then seen=$n; cp "$work/status.tmp" "$results/4-cluster-status.json"; fi
      ((seen == total)) && break
    fi
    sleep 0.5
  done
  wait "$idle_pid" || failures+=("4-cluster-idle")
  sed 's/^/   /' "$work/4-cluster-idle.summary" >&2
  [ -s "$results/4-cluster-idle.json" ] ||
    echo '{"ok":false,"problems":["wsg-bench wrote no report"]}' >"$results/4-cluster-idle.json"
  bench_log "4-cluster: master.sessions reached $seen of $total"
  python3 - "$results/4-cluster-check.json" "$seen" "$total" "$n4" "$per_node" <<'EOF'
import json, sys
out, seen, total, nodes, per_node = sys.argv[1], *map(int, sys.argv[2:])
json.dump({"check": "master.sessions == nodes x per_node", "nodes": nodes, "per_node": per_node,
           "expected": total, "master_sessions_max_seen": seen, "ok": seen == total}, open(out, "w"), indent=2)
EOF
  ((seen == total)) || failures+=("4-cluster-check")
  bench_wsg_cluster_stop
fi

# ---- 5. Open loop across two nodes --------------------------------------------------------------------------
if want 5; then
  bench_wsg_cluster "$wsg" 2 0 open || exit 2
  run_bench 5-wsg-open "$(( open_duration + warmup + 60 ))" remote --ws "ws://127.0.0.1:${node_ports[0]}/ws" \
    --ws "ws://127.0.0.1:${node_ports[1]}/ws" --rate "$open_rate" --pairs "$open_pairs" --duration "$open_duration" \
    --warmup "$warmup" --body-bytes "$body" "${cluster_pid_args[@]}"
  bench_wsg_cluster_stop
fi

# ---- 6. Connection storm ----------------------------------------------------------------------------------
if want 6; then
  storm_bound=$(( storm_sessions / 50 + 90 ))
  bench_wsg_cluster "$wsg" 2 0 storm || exit 2
  run_bench 6-wsg-storm "$storm_bound" storm --ws "ws://127.0.0.1:${node_ports[0]}/ws" \
    --ws "ws://127.0.0.1:${node_ports[1]}/ws" --sessions "$storm_sessions" --concurrency "$storm_concurrency" \
    --source-ips "$sources" "${cluster_pid_args[@]}"
  bench_wsg_cluster_stop

  start_floor storm
  run_bench 6-floor-storm "$storm_bound" storm --floor --ws "ws://127.0.0.1:$floor_port/ws" \
    --sessions "$storm_sessions" --concurrency "$storm_concurrency" --source-ips "$sources" --pid "floor=$floor_pid"
  bench_stop "$floor_pid"
fi

# ---- Summary ------------------------------------------------------------------------------------------------
python3 "$root/scripts/bench_summary.py" "$results" "$quick" >"$results/summary.md"
cat "$results/summary.md"
echo
echo "results: $results"
if ((${#failures[@]})); then
  echo "bench.sh: not clean: ${failures[*]} (see the problems in their reports and $work)" >&2
  keep_logs=1
  exit 1
fi
