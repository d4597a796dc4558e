#!/usr/bin/env bash
# Many small rooms on all nodes but the last (docs/benchmarks.md, "Rooms"): a master and --nodes
# nodes (default 3) on loopback, `wsg-bench room` with its members on every node except the last
# one, then each node's room metrics and the master's CPU: a publish must reach only the nodes with
# members, and the master must not work for publishes. A process may hold 20,000 files here: give
# each node and each load process (--procs) fewer sessions than that (the full 10,000 x 10 run:
# --nodes 7 --procs 6, docs/benchmarks.md).
#
#   bash bench/many_rooms.sh [--rooms 2000] [--members 20000] [--rate 1000] [--duration 20]
#                            [--nodes 3] [--warmup 3] [--pairs] [--wsg PATH] [--bench PATH] [--procs 2]
# --pairs: each room's members on two neighbouring member nodes only (room r on nodes r mod M and
# r+1 mod M of the M member nodes; needs --members = S x --rooms, S >= 2), instead of spread over
# every member node: a publish then goes to one other node, whatever the number of nodes.
# (a warm-up of --rooms / --rate seconds or more lets every room publish once before the window,
# so that the window holds no first ROOM_LOOKUP.)
#
# Every process it starts is stopped on exit; the load run is bounded (timeout 600 s).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rooms=2000 members=20000 rate=1000 duration=20 procs=2 nodes=3 warmup=3 pairs=0
wsg="$root/build-test/wsg" bench="$root/build-test/bench/load/wsg-bench"
while (($#)); do
  case "$1" in
    --rooms) rooms="$2"; shift 2 ;;
    --members) members="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --procs) procs="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --pairs) pairs=1; shift ;;
    --wsg) wsg="$2"; shift 2 ;;
    --bench) bench="$2"; shift 2 ;;
    *) sed -n '2,17p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d "${TMPDIR:-/tmp}/wsg-many-rooms-XXXXXX")"
source "$root/bench/lib.sh"
trap bench_cleanup EXIT
((nodes >= 2)) || { echo "--nodes: 2 or more (the last one has no members)" >&2; exit 2; }
bench_wsg_cluster "$wsg" "$nodes" 30000 mr
ws=()
m=$((nodes - 1))
if ((pairs)); then
  # wsg-bench puts member u on the (u mod L)-th --ws of L: blocks of S entries, block k half on
  # member node k and half on node k+1 (mod M), so room r (members S*r .. S*r+S-1) is on pair r mod M.
  size=$((members / rooms))
  ((size * rooms == members && size >= 2)) || { echo "--pairs: --members must be S x --rooms, S >= 2" >&2; exit 2; }
  for k in $(seq 0 $((m - 1))); do
    for i in $(seq 0 $((size - 1))); do
      n=$(( i < (size + 1) / 2 ? k : (k + 1) % m ))
      ws+=(--ws "ws://127.0.0.1:${node_ports[$n]}/ws")
    done
  done
else
  for k in $(seq 0 $((m - 1))); do ws+=(--ws "ws://127.0.0.1:${node_ports[$k]}/ws"); done
fi
timeout 600 "$bench" room "${ws[@]}" --rooms "$rooms" --members "$members" --publishers "$rooms" \
  --rate "$rate" --duration "$duration" --warmup "$warmup" --procs "$procs" "${cluster_pid_args[@]}" \
  --json "$work/room.json" >"$work/bench.txt" 2>&1 || true
grep -E 'sessions:|publishes:|deliveries:|latency:|server|ok:|problem' "$work/bench.txt" || cat "$work/bench.txt"
for k in $(seq 0 $((nodes - 1))); do
  curl -fsS "http://127.0.0.1:${node_ports[$k]}/metrics" |
    grep -E '^wsg_room_(publishes_total|events_sent_total|deliveries_total|events_not_here_total|lookups_total)' |
    sed "s/^/node-$((k + 1)) /"
done
echo "report and logs: $work"
