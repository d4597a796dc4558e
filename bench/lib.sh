# Shell helpers for the benchmark scripts (bench/compare/run.sh, scripts/bench.sh); sourced.
# The caller sets $work (a directory for logs and configs) and calls bench_cleanup from its EXIT
# trap. Every process started through bench_start is stopped there; every wait is bounded.

bench_pids=()
bench_used_ports=" "

bench_log() { echo "== $*" >&2; }

# A TCP port free on 127.0.0.1 a moment ago, never the same twice in one run.
bench_free_port() {
  local p
  for _ in $(seq 1 20); do
    p="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    if [[ "$bench_used_ports" != *" $p "* ]]; then bench_used_ports+="$p "; echo "$p"; return 0; fi
  done
  echo "no free port" >&2; return 1
}

# bench_start NAME CMD ARGS...: runs it in the background, output in $work/NAME.log; sets $started_pid.
bench_start() {
  local name="$1"; shift
  "$@" >"$work/$name.log" 2>&1 &
  started_pid=$!
  bench_pids+=("$started_pid")
}

# SIGTERM, up to 8 s for the process to exit, then SIGKILL.
bench_stop() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 80); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

bench_cleanup() {
  local p
  for p in "${bench_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${bench_pids[@]}"; do
    for _ in $(seq 1 80); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  bench_pids=()
}

# bench_wait_listening FILE PID WHAT: waits (10 s) for a line `listening HOST:PORT`; prints PORT.
bench_wait_listening() {
  for _ in $(seq 1 200); do
    if grep -qm1 '^listening ' "$1" 2>/dev/null; then
      sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$1" | head -1; return 0
    fi
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "$3 did not start; its log:" >&2; tail -20 "$1" >&2; return 1
}

# bench_wait_healthy PORT WHAT: waits (10 s) for GET /healthz to answer 200.
bench_wait_healthy() {
  for _ in $(seq 1 200); do
    curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "$2 (port $1) did not become healthy" >&2; return 1
}

# bench_wsg_cluster WSG NODES MAX_CONNECTIONS TAG: a master and NODES nodes on free loopback ports,
# rate limiting off (limits.messages_per_second = 0: the peers have none), logs at warn. The
# environment can set node.threads (bench_node_threads) and cluster.outbox_coalesce_us
# (bench_outbox_coalesce_us) for an experiment; unset, the nodes run with wsg's defaults. Sets
# $cluster_master (tcp://...), $master_pid, the arrays node_pids and node_ports, and
# $cluster_pid_args (--pid NAME=PID for the master and every node, for wsg-bench).
bench_wsg_cluster() {
  local wsg="$1" n="$2" maxconn="$3" tag="$4" k port eport mport
  mport="$(bench_free_port)"
  cluster_master="tcp://127.0.0.1:$mport"
  bench_start "$tag-master" "$wsg" master --bind "$cluster_master" --log-level warn
  master_pid=$started_pid
  node_pids=() node_ports=() cluster_pid_args=(--pid "master=$master_pid")
  for k in $(seq 1 "$n"); do
    port="$(bench_free_port)"; eport="$(bench_free_port)"
    cat >"$work/$tag-node-$k.toml" <<EOF
[node]
id = "node-$k"${bench_node_threads:+
threads = $bench_node_threads}
listen = "127.0.0.1:$port"
[cluster]
master = "$cluster_master"
events_bind = "tcp://127.0.0.1:$eport"${bench_outbox_coalesce_us:+
outbox_coalesce_us = $bench_outbox_coalesce_us}
[limits]
messages_per_second = 0
max_connections = $maxconn
[log]
level = "warn"
EOF
    bench_start "$tag-node-$k" "$wsg" node --config "$work/$tag-node-$k.toml"
    node_pids+=("$started_pid"); node_ports+=("$port")
    cluster_pid_args+=(--pid "node-$k=$started_pid")
  done
  for k in $(seq 0 $((n - 1))); do bench_wait_healthy "${node_ports[$k]}" "wsg node-$((k + 1))" || return 1; done
  for _ in $(seq 1 100); do
    if "$wsg" status --master "$cluster_master" --json 2>/dev/null |
       python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if sum(1 for x in s["nodes"] if x["alive"])=='"$n"' else 1)' \
       2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "the master did not list $n live nodes" >&2; return 1
}

# Stops the cluster started last (nodes first: they drain and unregister).
bench_wsg_cluster_stop() {
  local p
  for p in "${node_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${node_pids[@]}"; do bench_stop "$p"; done
  bench_stop "$master_pid"
}

# URL arguments for wsg-bench: --ws ws://127.0.0.1:PORT/ws for each node port given.
bench_ws_args() {
  local p
  for p in "$@"; do printf -- '--ws\nws://127.0.0.1:%s/ws\n' "$p"; done
}
