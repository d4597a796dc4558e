#!/usr/bin/env bash
# A wsg cluster on six "machines" (m1, m2, n1..n3, c): network namespaces joined by a bridge (root only).
#
#   scripts/netns-cluster.sh up --wsg PATH [--masters 1|2] [--subnet 10.231.0] [--timeout SECONDS]
#       builds the hosts and starts a master on m1 (with --masters 2 a second one on m2; every node
#       then registers with both) and a node on each of n1..n3; waits (with a deadline) until every
#       master's and node's /healthz answers 200, then prints the endpoints
#   scripts/netns-cluster.sh down                 stops every process, deletes every namespace and
#                                                 the state directory (safe to run twice)
#   scripts/netns-cluster.sh partition A B [C..]  A can no longer reach B (C, ...) nor they A:
#                                                 blackhole routes on both sides; B may be "all"
#   scripts/netns-cluster.sh heal [A B [C..]]     removes those routes (without arguments: all of them)
#   scripts/netns-cluster.sh status               hosts, processes, /healthz, blackholes, wsg status
#   scripts/netns-cluster.sh wsg-status [ARGS..]  `wsg status` on the client host, asking every
#                                                 master of the cluster (with its key), e.g. --json
#   scripts/netns-cluster.sh exec HOST CMD...     runs CMD on HOST (ip netns exec)
#
# Hosts (namespace PREFIX+name; PREFIX is "wsg-", or $WSG_NETNS_PREFIX, at most 6 characters):
#   m1  .1    master: ZeroMQ tcp://ADDR:5555, /healthz and /metrics on http://ADDR:9100
#   m2  .2    the second master with --masters 2 (same ports); idle otherwise
#   n1  .11   node-1: ws://ADDR:8080/ws?user=ID, events tcp://ADDR:6000
#   n2  .12   node-2 (same ports)
#   n3  .13   node-3 (same ports)
#   c   .100  the client host, where a test driver runs (scripts/netns-cluster.sh exec c ...)
#   sw        the switch: the bridge br0 and one veth per host; it has no address
# Every host has one interface, eth0, on SUBNET.0/24 (default 10.231.0.0/24), and its own loopback.
# Nothing is created or changed in the root namespace: the veth pairs are created inside the
# switch's namespace, and the root namespace's addresses and routes are never touched.
# The cluster is keyed (a CURVE key from `wsg keygen`) and uses auth.mode = "insecure" (?user=ID):
# fine on this private bridge, never on a real network. Configs and logs are in a temporary
# directory, printed by `up` and `status`, removed by `down`.
set -euo pipefail

prefix="${WSG_NETNS_PREFIX:-wsg-}"
pointer="${TMPDIR:-/tmp}/${prefix}netns-cluster.state"  # holds the path of the state directory
hosts=(m1 m2 n1 n2 n3 c)

die() { echo "netns-cluster: $*" >&2; exit 1; }

host_octet() {
  case "$1" in
    m1) echo 1 ;; m2) echo 2 ;; n1) echo 11 ;; n2) echo 12 ;; n3) echo 13 ;; c) echo 100 ;;
    *) die "unknown host '$1' (hosts: ${hosts[*]})" ;;
  esac
}

state_dir() { if [ -f "$pointer" ]; then cat "$pointer"; fi; }

subnet() {  # the first three octets of the running cluster (or the default)
  local d; d="$(state_dir)"
  if [ -n "$d" ] && [ -f "$d/subnet" ]; then cat "$d/subnet"; else echo "10.231.0"; fi
}

addr() { echo "$(subnet).$(host_octet "$1")"; }
ns() { echo "${prefix}$1"; }

check_prefix() {
  [ "${#prefix}" -le 6 ] || die "WSG_NETNS_PREFIX must be at most 6 characters"
  [[ "$prefix" =~ ^[a-z0-9-]+$ ]] || die "WSG_NETNS_PREFIX: only [a-z0-9-]"
  command -v ip >/dev/null || die "'ip' (iproute2) is missing"
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

ns_pids() {  # namespaces... -> the pids in them
  local n
  for n in "$@"; do
    if ns_exists "$n"; then ip netns pids "$n" 2>/dev/null || true; fi
  done
}

kill_ns_processes() {  # namespaces...: TERM all at once, wait up to 5 s, then KILL
  local pids
  pids="$(ns_pids "$@")"
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 1 50); do
    pids="$(ns_pids "$@")"
    [ -n "$pids" ] || return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  for _ in $(seq 1 20); do
    [ -n "$(ns_pids "$@")" ] || return 0
    sleep 0.1
  done
}

down() {
  check_prefix
  # The nodes first (SIGTERM: they drain and tell the master they leave), then whatever else runs.
  kill_ns_processes "$(ns n1)" "$(ns n2)" "$(ns n3)"
  kill_ns_processes "$(ns m1)" "$(ns m2)" "$(ns c)" "$(ns sw)"
  local h
  for h in "${hosts[@]}" sw; do
    if ns_exists "$(ns "$h")"; then ip netns del "$(ns "$h")"; fi
  done
  # The state directory, and those of earlier runs whose pointer was lost (marked as ours).
  local d
  for d in "$(state_dir)" "${TMPDIR:-/tmp}/${prefix}netns."*; do
    if [ -n "$d" ] && [ -d "$d" ] && [ -f "$d/.wsg-netns-cluster" ]; then rm -rf "$d"; fi
  done
  rm -f "$pointer"
  echo "netns cluster down (no namespace ${prefix}* of this script left)"
}

wait_healthy() {  # url, deadline (epoch seconds)
  while :; do
    if ip netns exec "$(ns c)" curl -fsS -m 1 -o /dev/null "$1" 2>/dev/null; then return 0; fi
    [ "$(date +%s)" -lt "$2" ] || return 1
    sleep 0.1
  done
}

up() {
  local wsg="" sub="10.231.0" timeout=30 masters=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --wsg) wsg="$2"; shift 2 ;;
      --masters) masters="$2"; shift 2 ;;
      --subnet) sub="$2"; shift 2 ;;
      --timeout) timeout="$2"; shift 2 ;;
      *) die "up: unknown argument '$1'" ;;
    esac
  done
  check_prefix
  [ -n "$wsg" ] || die "up: --wsg PATH is required"
  [ -x "$wsg" ] || die "up: '$wsg' is not an executable"
  wsg="$(cd "$(dirname "$wsg")" && pwd)/$(basename "$wsg")"
  [[ "$sub" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--subnet takes three octets, e.g. 10.231.0"
  [[ "$masters" =~ ^[12]$ ]] || die "--masters takes 1 or 2 (hosts m1, m2)"
  command -v curl >/dev/null || die "curl is missing"

  # Leftovers of an earlier run (or a crashed one) first.
  down >/dev/null

  local dir; dir="$(mktemp -d "${TMPDIR:-/tmp}/${prefix}netns.XXXXXX")"
  touch "$dir/.wsg-netns-cluster"
  echo "$dir" >"$pointer"
  echo "$sub" >"$dir/subnet"
  echo "$wsg" >"$dir/wsg"
  local mhosts=(m1) mlist="tcp://$sub.1:5555"
  if [ "$masters" -eq 2 ]; then mhosts=(m1 m2); mlist="tcp://$sub.1:5555,tcp://$sub.2:5555"; fi
  echo "${mhosts[*]}" >"$dir/masters"
  echo "$mlist" >"$dir/master-list"

  local sw; sw="$(ns sw)"
  ip netns add "$sw"
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  local h
  for h in "${hosts[@]}"; do
    local n; n="$(ns "$h")"
    ip netns add "$n"
    ip -n "$n" link set lo up
    ip -n "$sw" link add "v-$h" type veth peer name eth0 netns "$n"
    ip -n "$sw" link set "v-$h" master br0
    ip -n "$sw" link set "v-$h" up
    ip -n "$n" addr add "$sub.$(host_octet "$h")/24" dev eth0
    ip -n "$n" link set eth0 up
  done

  "$wsg" keygen --secret-file "$dir/cluster.key" >/dev/null
  local m ma
  for m in "${mhosts[@]}"; do
    ma="$sub.$(host_octet "$m")"
    cat >"$dir/master-$m.toml" <<EOF
[master]
bind = "tcp://$ma:5555"
node_timeout_ms = 3000
[cluster]
curve_secret_key_file = "$dir/cluster.key"
[metrics]
listen = "$ma:9100"
[log]
level = "info"
EOF
  done
  local k
  for k in 1 2 3; do
    local a="$sub.1$k"
    cat >"$dir/node-$k.toml" <<EOF
[node]
id = "node-$k"
listen = "$a:8080"
[cluster]
master = "$mlist"
events_bind = "tcp://$a:6000"
heartbeat_ms = 1000
delivery_timeout_ms = 2000
curve_secret_key_file = "$dir/cluster.key"
[auth]
mode = "insecure"
[log]
level = "info"
EOF
  done

  start() {  # host, name, args...
    local host="$1" name="$2"; shift 2
    ip netns exec "$(ns "$host")" setsid "$wsg" "$@" >"$dir/$name.log" 2>&1 </dev/null &
    echo $! >"$dir/$name.pid"
  }
  for m in "${mhosts[@]}"; do start "$m" "master-$m" master --config "$dir/master-$m.toml"; done
  for k in 1 2 3; do start "n$k" "node-$k" node --config "$dir/node-$k.toml"; done

  local deadline=$(( $(date +%s) + timeout ))
  for m in "${mhosts[@]}"; do
    wait_healthy "http://$sub.$(host_octet "$m"):9100/healthz" "$deadline" ||
      { tail -n 20 "$dir/master-$m.log" >&2; die "the master on $m did not become healthy within ${timeout} s (logs: $dir)"; }
  done
  for k in 1 2 3; do
    wait_healthy "http://$sub.1$k:8080/healthz" "$deadline" ||
      { tail -n 20 "$dir/node-$k.log" >&2; die "node-$k did not become healthy within ${timeout} s (logs: $dir)"; }
  done

  echo "netns cluster up ($sub.0/24 on bridge br0 in namespace $sw; state and logs: $dir)"
  echo "  m1  $(ns m1)  master  tcp://$sub.1:5555   http://$sub.1:9100/healthz"
  if [ "$masters" -eq 2 ]; then
    echo "  m2  $(ns m2)  master  tcp://$sub.2:5555   http://$sub.2:9100/healthz   (nodes: cluster.master = \"$mlist\")"
  else
    echo "  m2  $(ns m2)  idle    $sub.2 (the second master's host with up --masters 2)"
  fi
  for k in 1 2 3; do
    echo "  n$k  $(ns "n$k")  node-$k  ws://$sub.1$k:8080/ws?user=ID   events tcp://$sub.1$k:6000"
  done
  echo "  c   $(ns c)   client  $sub.100   e.g. scripts/netns-cluster.sh exec c curl http://$sub.11:8080/healthz"
  echo "  key: $dir/cluster.key   status: scripts/netns-cluster.sh status   stop: scripts/netns-cluster.sh down"
}

check_hosts() {  # A B...: every name a host ("all" allowed after the first), A not among the others
  local a="$1" b
  host_octet "$a" >/dev/null
  shift
  for b in "$@"; do
    [ "$b" = all ] || host_octet "$b" >/dev/null
    [ "$b" != "$a" ] || die "cannot partition $a from itself"
  done
}

expand() {  # A and "all" -> every other host
  local a="$1" b
  shift
  for b in "$@"; do
    if [ "$b" = all ]; then
      local h
      for h in "${hosts[@]}"; do [ "$h" = "$a" ] || echo "$h"; done
    else
      host_octet "$b" >/dev/null
      [ "$b" != "$a" ] || die "cannot partition $a from itself"
      echo "$b"
    fi
  done
}

partition() {
  [ $# -ge 2 ] || die "usage: partition A B [C..] (B may be 'all')"
  check_prefix
  check_hosts "$@"
  local a="$1" b sub batch=""; shift
  ns_exists "$(ns "$a")" || die "no cluster (run up first)"
  sub="$(subnet)"
  # The routes of A in one `ip -batch` (a cut to "all" is then as good as simultaneous), then B's.
  for b in $(expand "$a" "$@"); do
    batch+="route replace blackhole $sub.$(host_octet "$b")/32"$'\n'
  done
  ip -n "$(ns "$a")" -batch - <<<"$batch" &
  for b in $(expand "$a" "$@"); do
    ip -n "$(ns "$b")" route replace blackhole "$sub.$(host_octet "$a")/32" &
  done
  local rc=0 p
  for p in $(jobs -p); do wait "$p" || rc=1; done
  [ "$rc" -eq 0 ] || die "partition: adding a blackhole route failed"
  for b in $(expand "$a" "$@"); do
    echo "partitioned $a ($sub.$(host_octet "$a")) <-> $b ($sub.$(host_octet "$b"))"
  done
}

heal() {
  check_prefix
  if [ $# -eq 0 ]; then
    local h r
    for h in "${hosts[@]}"; do
      ns_exists "$(ns "$h")" || continue
      ip -n "$(ns "$h")" route show type blackhole | while read -r _ r _; do
        ip -n "$(ns "$h")" route del blackhole "$r"
      done
    done
    echo "healed: no blackhole routes left"
    return 0
  fi
  [ $# -ge 2 ] || die "usage: heal [A B [C..]]"
  check_hosts "$@"
  local a="$1" b sub; shift
  sub="$(subnet)"
  # Both sides of every pair at once (a route that is not there is not an error).
  for b in $(expand "$a" "$@"); do
    ip -n "$(ns "$a")" route del blackhole "$sub.$(host_octet "$b")/32" 2>/dev/null &
    ip -n "$(ns "$b")" route del blackhole "$sub.$(host_octet "$a")/32" 2>/dev/null &
  done
  local p
  for p in $(jobs -p); do wait "$p" || true; done
  for b in $(expand "$a" "$@"); do echo "healed $a <-> $b"; done
}

status() {
  check_prefix
  local d; d="$(state_dir)"
  if [ -z "$d" ] || ! ns_exists "$(ns sw)"; then
    echo "no netns cluster (scripts/netns-cluster.sh up --wsg PATH)"; return 1
  fi
  echo "state and logs: $d"
  printf '%-4s %-10s %-15s %-10s %s\n' HOST NAMESPACE ADDRESS PIDS "HEALTH / BLACKHOLES"
  local h
  for h in "${hosts[@]}"; do
    local n a health="" bh
    n="$(ns "$h")"; a="$(addr "$h")"
    case "$h" in
      m1|m2)
        if grep -qw "$h" "$d/masters" 2>/dev/null; then
          health="$(ip netns exec "$(ns c)" curl -sS -m 2 -o /dev/null -w '%{http_code}' "http://$a:9100/healthz" 2>/dev/null || true)"
        fi ;;
      n*) health="$(ip netns exec "$(ns c)" curl -sS -m 2 -o /dev/null -w '%{http_code}' "http://$a:8080/healthz" 2>/dev/null || true)" ;;
    esac
    [ -z "$health" ] || health="healthz $health"
    bh="$(ip -n "$n" route show type blackhole 2>/dev/null | awk '{print $2}' | tr '\n' ' ')"
    printf '%-4s %-10s %-15s %-10s %s\n' "$h" "$n" "$a" "$(ip netns pids "$n" 2>/dev/null | tr '\n' ',' | sed 's/,$//')" \
      "$health${bh:+  blackholes: $bh}"
  done
  echo
  wsg_status || true
}

wsg_status() {  # args for `wsg status`: run on the client host against every master, with the key
  check_prefix
  local d wsg list
  d="$(state_dir)"
  { [ -n "$d" ] && ns_exists "$(ns c)" && [ -f "$d/wsg" ]; } || die "no cluster (run up first)"
  wsg="$(cat "$d/wsg")"
  list="$(cat "$d/master-list" 2>/dev/null || echo "tcp://$(addr m1):5555")"
  ip netns exec "$(ns c)" "$wsg" status --master "$list" --curve-secret-key-file "$d/cluster.key" "$@"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  partition) shift; partition "$@" ;;
  heal) shift; heal "$@" ;;
  status) status ;;
  wsg-status) shift; wsg_status "$@" ;;
  exec)
    shift
    [ $# -ge 2 ] || die "usage: exec HOST CMD..."
    check_prefix; host_octet "$1" >/dev/null
    h="$1"; shift
    exec ip netns exec "$(ns "$h")" "$@" ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
  *) echo "usage: scripts/netns-cluster.sh up --wsg PATH [--masters 1|2] [--subnet A.B.C] [--timeout S] | down | partition A B.. | heal [A B..] | status | wsg-status [ARGS..] | exec HOST CMD.. (--help)" >&2; exit 2 ;;
esac
