#!/usr/bin/env bash
# Many small rooms on all nodes but the last (docs/benchmarks.md, "Rooms"): a master and --nodes
# nodes (default 3) on loopback, `wsg-bench room` with its members on every node except the last
# one, then each node's room metrics and the master's CPU: a publish must reach only the nodes with
# members, and the master must not work for publishes. A process may hold 20,000 files here: give
# each node and each load process (--procs) fewer sessions than that (the full 10,000 x 10 run:
# --nodes 7 --procs 6, docs/benchmarks.md).
#
#   bash bench/many_rooms.sh [--rooms 2000] [--members 20000] [--rate 1000] [--duration 20]
#                            [--nodes 3] [--wsg PATH] [--bench PATH] [--procs 2]
#
# Every process it starts is stopped on exit; the load run is bounded (timeout 600 s).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rooms=2000 members=20000 rate=1000 duration=20 procs=2 nodes=3
wsg="$root/build-test/wsg" bench="$root/build-test/bench/load/wsg-bench"
while (($#)); do
  case "$1" in
    --rooms) rooms="$2"; shift 2 ;;
    --members) members="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --procs) procs="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --wsg) wsg="$2"; shift 2 ;;
    --bench) bench="$2"; shift 2 ;;
    *) sed -n '2,12p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d "${TMPDIR:-/tmp}/wsg-many-rooms-XXXXXX")"
source "$root/bench/lib.sh"
trap bench_cleanup EXIT
((nodes >= 2)) || { echo "--nodes: 2 or more (the last one has no members)" >&2; exit 2; }
bench_wsg_cluster "$wsg" "$nodes" 30000 mr
ws=()
for k in $(seq 0 $((nodes - 2))); do ws+=(--ws "ws://127.0.0.1:${node_ports[$k]}/ws"); done
timeout 600 "$bench" room "${ws[@]}" --rooms "$rooms" --members "$members" --publishers "$rooms" \
  --rate "$rate" --duration "$duration" --warmup 3 --procs "$procs" "${cluster_pid_args[@]}" \
  --json "$work/room.json" >"$work/bench.txt" 2>&1 || true
grep -E 'sessions:|publishes:|deliveries:|latency:|server|ok:' "$work/bench.txt" || cat "$work/bench.txt"
for k in $(seq 0 $((nodes - 1))); do
  curl -fsS "http://127.0.0.1:${node_ports[$k]}/metrics" |
    grep -E '^wsg_room_(publishes_total|events_sent_total|deliveries_total|events_not_here_total|lookups_total)' |
    sed "s/^/node-$((k + 1)) /"
done
echo "report and logs: $work"
