#!/usr/bin/env bash
# Read scale-out of several masters (issue 18): N masters on loopback, one wsg-master-bench per
# master, all at once. Each bench registers --sessions sessions at its master (every master holds a
# directory of the same size, as replicas do) and then sends its share of the lookups (LOOKUPS / N),
# as nodes spread their reads over the masters by rendezvous hash. Prints one line per master and
# the sum of the lookups/s.
#
#   bench/master/scale.sh BUILD_DIR MASTERS [SESSIONS=200000] [LOOKUPS=1200000] [WINDOW=512]
#
# Every process is bounded (the bench's --timeout 120) and killed on exit.
set -euo pipefail
build="${1:?usage: scale.sh BUILD_DIR MASTERS [SESSIONS] [LOOKUPS] [WINDOW]}"
masters="${2:?usage: scale.sh BUILD_DIR MASTERS [SESSIONS] [LOOKUPS] [WINDOW]}"
sessions="${3:-200000}"
lookups="${4:-1200000}"
window="${5:-512}"
wsg="$build/wsg"
bench="$build/bench/master/wsg-master-bench"
dir="$(mktemp -d /tmp/wsg-master-scale.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

ports=()
mpids=()
for ((i = 0; i < masters; i++)); do
  port="$(free_port)"
  ports+=("$port")
  "$wsg" master --bind "tcp://127.0.0.1:$port" --log-level warn 2>"$dir/master-$i.log" &
  mpids+=("$!")
  pids+=("$!")
done
# Each master answers `wsg status` before the benches start (bounded: 50 tries of 100 ms).
for port in "${ports[@]}"; do
  for ((t = 0; t < 50; t++)); do
    "$wsg" status --master "tcp://127.0.0.1:$port" --timeout-ms 200 >/dev/null 2>&1 && break
    sleep 0.1
  done
done
share=$((lookups / masters))
bpids=()
for ((i = 0; i < masters; i++)); do
  "$bench" --master "tcp://127.0.0.1:${ports[$i]}" --pid "${mpids[$i]}" --sessions "$sessions" \
    --lookups "$share" --lookup-window "$window" --prefix "m$i-" --timeout 120 \
    --json "$dir/bench-$i.json" >"$dir/bench-$i.out" 2>&1 &
  bpids+=("$!")
  pids+=("$!")
done
status=0
for p in "${bpids[@]}"; do wait "$p" || status=1; done
python3 - "$dir" "$masters" <<'EOF'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
total = 0.0
count = 0
longest = 0.0
for i in range(n):
    r = json.load(open(f"{d}/bench-{i}.json"))
    lk = r["lookup"]
    total += lk["per_second"]
    count += lk["lookups"]
    longest = max(longest, lk["seconds"])
    print(f"master {i + 1}: {lk['lookups']} lookups, {lk['per_second']:.0f}/s, p50 {lk['latency_us']['p50']:.0f} us, "
          f"p99 {lk['latency_us']['p99']:.0f} us, master CPU {lk['master_cpu_us_per_lookup']} us/lookup, ok {r['ok']}")
# Conservative: every lookup over the longest lookup phase (the phases overlap but do not start at
# the same instant).
print(f"masters {n}: {count / longest:.0f} lookups/s in all (all lookups over the longest phase; "
      f"sum of the rates {total:.0f})")
EOF
exit "$status"
