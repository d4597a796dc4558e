#!/usr/bin/env bash
# Soak run: a master and three nodes on free loopback ports, connection churn and traffic for N
# minutes, node-3 restarted (SIGTERM, then started again with the same id) at the midpoint, RSS of
# every process sampled from /proc. Verdict: no message lost for users who stayed connected, RSS flat
# after warm-up. See docs/soak.md.
#
#   scripts/soak.sh [--minutes N] [--wsg PATH] [--out DIR] [--rate MSG_PER_S] [--churn-rate CONN_PER_S]
#                   [--interval S] [--node-timeout-ms MS] [--warmup S]
#
# --minutes N     load duration (default 10); the restart happens at N/2
# --wsg PATH      the wsg binary (default build/wsg, built like scripts/cluster.sh does when missing)
# --out DIR       where logs, samples and the report go (default a new /tmp/wsg-soak.XXXXXX)
# --warmup S      RSS warm-up (default 120 s or a fifth of a shorter run); the restarted node's
#                 warm-up starts when it is healthy again
# Exit status: 0 on PASS, 1 on FAIL, 2 on a usage or start-up problem.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py=/usr/bin/python3

minutes=10 wsg="" out="" rate=300 churn_rate=20 interval=5 node_timeout_ms=3000 warmup=""
usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --wsg) wsg="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --churn-rate) churn_rate="$2"; shift 2 ;;
    --interval) interval="$2"; shift 2 ;;
    --node-timeout-ms) node_timeout_ms="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "soak: unknown argument $1" >&2; usage ;;
  esac
done

if [ -z "$wsg" ]; then
  wsg="$here/build/wsg"
  [ -x "$wsg" ] || bash "$here/scripts/build.sh" build -DWSG_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release
fi
[ -x "$wsg" ] || { echo "soak: $wsg is not an executable" >&2; exit 2; }
wsg="$(cd "$(dirname "$wsg")" && pwd)/$(basename "$wsg")"
$py -c 'import websockets' 2>/dev/null || { echo "soak: $py has no websockets (apt-get install python3-websockets)" >&2; exit 2; }
command -v curl >/dev/null || { echo "soak: curl is missing" >&2; exit 2; }

if [ -z "$out" ]; then out="$(mktemp -d /tmp/wsg-soak.XXXXXX)"; else mkdir -p "$out"; fi
out="$(cd "$out" && pwd)"
mkdir -p "$out/logs" "$out/pids"
: >"$out/events.jsonl"
: >"$out/rss.csv"

now() { date +%s.%N; }
event() {  # name [json fields without braces]
  printf '{"t":%s,"event":"%s"%s}\n' "$(now)" "$1" "${2:+,$2}" >>"$out/events.jsonl"
}
log() { echo "soak $(date +%T) $*"; }

# ---- processes: every pid we start is in $out/pids/NAME; the trap stops whatever is left
sampler_pid="" client_pid=""
# shellcheck disable=SC2317,SC2015  # run by the trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$sampler_pid" ] && kill -TERM "$sampler_pid" 2>/dev/null || true
  [ -n "$client_pid" ] && kill -TERM "$client_pid" 2>/dev/null || true
  local left=()
  for f in "$out"/pids/*; do
    [ -f "$f" ] || continue
    local p; p="$(cat "$f")"
    if alive "$p"; then kill -TERM "$p" 2>/dev/null || true; left+=("$p"); fi
  done
  for p in "${left[@]}"; do
    for _ in $(seq 1 100); do alive "$p" || break; sleep 0.1; done
    alive "$p" && kill -KILL "$p" 2>/dev/null || true
  done
  for p in "$client_pid" "$sampler_pid"; do
    [ -n "$p" ] || continue
    for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
    alive "$p" && kill -KILL "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

alive() {  # pid: running (a zombie counts as gone)
  local st
  st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

start() {  # name logfile args...
  local name="$1" logf="$2"; shift 2
  "$wsg" "$@" >>"$out/logs/$logf" 2>&1 &
  echo $! >"$out/pids/$name"
}

wait_exit() {  # pid timeout_s -> sets exit_rc (124 on timeout)
  local p="$1" n=$(( $2 * 20 ))
  for _ in $(seq 1 "$n"); do alive "$p" || break; sleep 0.05; done
  if alive "$p"; then exit_rc=124; return; fi
  exit_rc=0; wait "$p" || exit_rc=$?
}

healthy() { curl -fsS -m 1 "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; }

wait_healthy_or_exit() {  # port pid timeout_s -> 0 healthy, 1 exited, 2 timeout
  local n=$(( $3 * 10 ))
  for _ in $(seq 1 "$n"); do
    healthy "$1" && return 0
    alive "$2" || return 1
    sleep 0.1
  done
  return 2
}

node_alive_in_master() {  # id -> prints true/false
  "$wsg" status --master "$master" --json 2>/dev/null |
    $py -c 'import json,sys; d=json.load(sys.stdin); print(next((str(n["alive"]).lower() for n in d["nodes"] if n["id"]==sys.argv[1]), "absent"))' "$1"
}

# ---- ports and the cluster
read -r mport p1 p2 p3 e1 e2 e3 < <($py "$here/scripts/soak.py" ports 7)
master="tcp://127.0.0.1:$mport"
declare -A wsport=([node-1]=$p1 [node-2]=$p2 [node-3]=$p3) evport=([node-1]=$e1 [node-2]=$e2 [node-3]=$e3)
node_args() { echo node --id "$1" --listen "127.0.0.1:${wsport[$1]}" --master "$master" --events-bind "tcp://127.0.0.1:${evport[$1]}"; }

memtotal=$(awk '/^MemTotal:/{print int($2/1024)}' /proc/meminfo)
event meta "\"date\":\"$(date -u +%FT%TZ)\",\"nproc\":$(nproc),\"mem_total_mb\":$memtotal,\"loadavg_start\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"wsg_version\":\"$("$wsg" --version)\",\"wsg\":\"$wsg\",\"kernel\":\"$(uname -r)\",\"clk_tck\":$(getconf CLK_TCK),\"master\":\"$master\",\"node_timeout_ms\":$node_timeout_ms"
log "out dir $out; wsg $wsg; master $master; nodes ws ports $p1 $p2 $p3"

start master master.log master --bind "$master" --node-timeout-ms "$node_timeout_ms"
for n in node-1 node-2 node-3; do
  # shellcheck disable=SC2046
  start "$n" "$n.log" $(node_args "$n")
done
for n in node-1 node-2 node-3; do
  wait_healthy_or_exit "${wsport[$n]}" "$(cat "$out/pids/$n")" 10 || { echo "soak: $n did not become healthy; see $out/logs" >&2; exit 2; }
done
event cluster_up
log "cluster up"

# ---- RSS sampler: t,name,pid,VmRSS kB,utime+stime ticks
(
  sp=""
  trap '[ -n "$sp" ] && kill "$sp" 2>/dev/null && wait "$sp" 2>/dev/null; exit 0' TERM
  while :; do
    t="$(now)"
    for n in master node-1 node-2 node-3 client; do
      if [ "$n" = client ]; then f="$out/client.pid"; else f="$out/pids/$n"; fi
      p="$(cat "$f" 2>/dev/null)" || continue
      rss="$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null)" || continue
      [ -n "$rss" ] || continue
      ticks="$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null)" || ticks=""
      echo "$t,$n,$p,$rss,$ticks" >>"$out/rss.csv"
    done
    echo "$t,$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/loadavg.csv"
    sleep "$interval" & sp=$!
    wait "$sp" || true
    sp=""
  done
) &
sampler_pid=$!

# ---- load client
$py "$here/scripts/soak.py" run --out "$out" --minutes "$minutes" --rate "$rate" --churn-rate "$churn_rate" \
  --node "node-1=ws://127.0.0.1:$p1" --node "node-2=ws://127.0.0.1:$p2" --node "node-3=ws://127.0.0.1:$p3" \
  --restarted node-3 >"$out/logs/client.log" 2>&1 &
client_pid=$!
echo "$client_pid" >"$out/client.pid"
for _ in $(seq 1 1200); do
  [ -f "$out/client.ready" ] && break
  alive "$client_pid" || { echo "soak: the load client died; see $out/logs/client.log" >&2; exit 2; }
  sleep 0.1
done
[ -f "$out/client.ready" ] || { echo "soak: the load client never got ready" >&2; exit 2; }
t_ready="$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["t_ready"])' "$out/client.ready")"
log "load running for $minutes min (client pid $client_pid)"

# ---- the restart, at the midpoint
half="$($py -c "print($t_ready + $minutes * 30.0)")"
while [ "$($py -c "import time; print(int(time.time() < $half))")" = 1 ]; do
  alive "$client_pid" || { echo "soak: the load client died; see $out/logs/client.log" >&2; exit 2; }
  sleep 1
done
old="$(cat "$out/pids/node-3")"
log "restart: SIGTERM node-3 (pid $old)"
event restart_sigterm "\"pid\":$old"
kill -TERM "$old"
wait_exit "$old" 30
event restart_exited "\"rc\":$exit_rc"
log "restart: node-3 exited $exit_rc"
# Is a new incarnation accepted at once? Try, and if the master refuses it, wait until the master
# has declared the old one dead (master.node_timeout_ms after its last heartbeat), then start again.
# shellcheck disable=SC2046
start node-3 node-3.restart.log $(node_args node-3)
probe="$(cat "$out/pids/node-3")"
refused=false
if ! wait_healthy_or_exit "$p3" "$probe" 15; then
  wait_exit "$probe" 5
  refused=true
  event restart_probe "\"refused\":true,\"rc\":$exit_rc"
  log "restart: immediate start refused (rc $exit_rc); waiting for the master to declare node-3 dead"
  for _ in $(seq 1 300); do
    [ "$(node_alive_in_master node-3)" = true ] || break
    sleep 0.1
  done
  event restart_master_dead
  # shellcheck disable=SC2046
  start node-3 node-3.restart.log $(node_args node-3)
  wait_healthy_or_exit "$p3" "$(cat "$out/pids/node-3")" 15 || { echo "soak: node-3 did not come back; see $out/logs" >&2; exit 1; }
else
  event restart_probe "\"refused\":false"
fi
event restart_started "\"pid\":$(cat "$out/pids/node-3")"
event restart_healthy
log "restart: node-3 healthy again (pid $(cat "$out/pids/node-3"), immediate start refused: $refused)"

# ---- end of the load
client_rc=0
wait "$client_pid" || client_rc=$?
client_pid=""
event client_exited "\"rc\":$client_rc"
log "load client exited $client_rc"
kill -TERM "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
for n in node-1 node-2 node-3; do kill -TERM "$(cat "$out/pids/$n")" 2>/dev/null || true; done
for n in node-1 node-2 node-3; do
  wait_exit "$(cat "$out/pids/$n")" 15
  event final_exit "\"name\":\"$n\",\"rc\":$exit_rc"
done
mp="$(cat "$out/pids/master")"
kill -TERM "$mp" 2>/dev/null || true
wait_exit "$mp" 15
event final_exit "\"name\":\"master\",\"rc\":$exit_rc"
event meta_end "\"loadavg_end\":\"$(cut -d' ' -f1-3 /proc/loadavg)\""
[ "$client_rc" = 0 ] || { echo "soak: the load client failed (rc $client_rc); see $out/logs/client.log" >&2; exit 2; }

verdict=0
$py "$here/scripts/soak.py" report --out "$out" ${warmup:+--warmup "$warmup"} || verdict=$?
log "report: $out/report.json, $out/summary.txt; logs: $out/logs"
exit "$verdict"
