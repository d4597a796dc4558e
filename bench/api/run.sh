#!/usr/bin/env bash
# The server API's throughput (issue 17, docs/benchmarks.md "Server API and webhooks"): a master and
# two nodes on loopback; wrk POSTs to node-1's /api/publish for a fixed time with a fixed number of
# connections, in three scenarios, each run RUNS times (median reported):
#   user:        {"to":"bob"}, bob's one session on node-2 (every publish crosses nodes);
#   room:        {"room":"lobby"}, 10 member sessions, 5 on each node;
#   undelivered: {"to":"nobody"} (offline): each answer is a message.undelivered webhook event,
#                so the receiver's count over the run is the webhook throughput.
# Usage: bench/api/run.sh [--wsg PATH] [--seconds S] [--connections C] [--runs N]
# Needs wrk (apt install wrk) and Debian's python3-websockets (run with /usr/bin/python3). Loopback only; every process is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
wsg="$root/build/wsg" seconds=10 conns=16 runs=3
while (($#)); do
  case "$1" in
    --wsg) wsg="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --connections) conns="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk is missing: apt install wrk" >&2; exit 2; }
work="$(mktemp -d /tmp/wsg-bench-api.XXXXXX)"
source "$root/bench/lib.sh"
trap 'bench_cleanup; rm -rf "$work"' EXIT

key="$(openssl rand -hex 24)"
bench_start receiver python3 "$here/receiver.py"
receiver_pid=$started_pid
hook_port="$(bench_wait_listening "$work/receiver.log" "$receiver_pid" receiver)"

mport="$(bench_free_port)"
master="tcp://127.0.0.1:$mport"
bench_start master "$wsg" master --bind "$master" --log-level warn
ports=() api_port="$(bench_free_port)"
for k in 1 2; do
  port="$(bench_free_port)" eport="$(bench_free_port)"
  ports+=("$port")
  {
    printf '[node]\nid = "node-%s"\nlisten = "127.0.0.1:%s"\n' "$k" "$port"
    printf '[cluster]\nmaster = "%s"\nevents_bind = "tcp://127.0.0.1:%s"\n' "$master" "$eport"
    printf '[limits]\nmessages_per_second = 0\n[log]\nlevel = "warn"\n'
    if [[ $k == 1 ]]; then
      printf '[api]\nlisten = "127.0.0.1:%s"\nkey = "%s"\nrequests_per_second = 0\n' "$api_port" "$key"
      printf '[webhooks]\nurl = "http://127.0.0.1:%s/hook"\nsecret = "bench-secret"\n' "$hook_port"
      printf 'events = ["message.undelivered"]\n'
    fi
  } >"$work/node-$k.toml"
  bench_start "node-$k" "$wsg" node --config "$work/node-$k.toml"
done
for p in "${ports[@]}"; do bench_wait_healthy "$p" node; done
for _ in $(seq 1 100); do
  curl -fsS -m 1 -o /dev/null -H "Authorization: Bearer $key" "http://127.0.0.1:$api_port/api/info" 2>/dev/null && break
  sleep 0.1
done

cat >"$work/post.lua" <<EOF2
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $key"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("WSG_BENCH_BODY")
EOF2

# run_wrk BODY: prints "RPS P50_MS P99_MS".
run_wrk() {
  WSG_BENCH_BODY="$1" wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$work/post.lua" \
    "http://127.0.0.1:$api_port/api/publish" >"$work/wrk.out" 2>&1
  python3 - "$work/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(s):
    v, u = re.match(r"([\d.]+)(us|ms|s)", s).groups()
    return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = ms(re.search(r"50%\s+(\S+)", t).group(1)); p99 = ms(re.search(r"99%\s+(\S+)", t).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {non2xx.group(1) if non2xx else 0}")
PY
}

metric() { curl -fsS "http://127.0.0.1:${ports[0]}/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

median() { python3 -c 'import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

declare -A results
scenario() {  # NAME BODY [sink args...]
  local name="$1" body="$2"; shift 2
  local r rps=() p50=() p99=() got=()
  for i in $(seq 1 "$runs"); do
    local sink_pid="" last="n/a"
    if (($#)); then
      bench_start "sink-$name-$i" /usr/bin/python3 "$here/sink.py" --seconds $((seconds + 8)) "$@"
      sink_pid=$started_pid
      for _ in $(seq 1 200); do grep -q '^ready' "$work/sink-$name-$i.log" 2>/dev/null && break; sleep 0.05; done
    fi
    local before; before="$(metric wsg_webhook_events_sent_total)"
    r="$(run_wrk "$body")"
    read -r a b c bad <<<"$r"
    rps+=("$a"); p50+=("$b"); p99+=("$c")
    if [[ -n "$sink_pid" ]]; then
      wait "$sink_pid" 2>/dev/null || true
      last="$(sed -n "s/^received //p" "$work/sink-$name-$i.log")"
      got+=("$last")
    fi
    # the webhook sender catches up within its batch delay; give it 3 s before reading
    sleep 3
    local after; after="$(metric wsg_webhook_events_sent_total)"
    bench_log "$name run $i: $a req/s, p50 $b ms, p99 $c ms, non-2xx $bad, received $last," \
      "webhook events sent $(python3 -c "print(int(float('${after:-0}') - float('${before:-0}')))")"
  done
  echo "$name: median $(median "${rps[@]}") req/s, p50 $(median "${p50[@]}") ms, p99 $(median "${p99[@]}") ms (runs: ${rps[*]})"
}

user_url="ws://127.0.0.1:${ports[1]}/ws?user=bob"
room_urls=()
for k in 0 1 2 3 4; do room_urls+=("ws://127.0.0.1:${ports[0]}/ws?user=m$k" "ws://127.0.0.1:${ports[1]}/ws?user=n$k"); done
echo "wsg server API benchmark: $(date -u +%F) $(nproc) cores, $seconds s per run, $conns connections, $runs runs"
scenario user '{"to":"bob","body":{"text":"hello"}}' "$user_url"
scenario room '{"room":"lobby","body":{"text":"hello"}}' --room lobby "${room_urls[@]}"
scenario undelivered '{"to":"nobody","body":{"text":"hello"}}'
echo "webhooks: sent $(metric wsg_webhook_events_sent_total), dropped $(metric wsg_webhook_events_dropped_total), failed $(metric wsg_webhook_events_failed_total)"
kill -TERM "$receiver_pid"; sleep 0.5
echo "receiver: $(tail -1 "$work/receiver.log")"
