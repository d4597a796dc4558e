#!/usr/bin/env bash
# wsg side by side with its peers, on this machine, on loopback (docs/benchmarks.md): the same
# user-to-user workload, sender on server A, recipient on server B, warm-up, measured window;
# closed loop (W messages in flight per pair) or, with --rate, open loop (R messages/s in all);
# with --idle N, no messages: N idle sessions over the two servers and the RSS each costs
# (`wsg-bench idle`, nodes and master or Redis together; Socket.IO skipped); with --room, room
# fan-out instead (`wsg-bench room`, docs/load-generator.md "Rooms"): --members sessions over the
# two servers joined to --rooms rooms, --publishers of them publishing, closed loop (--window
# publishes in flight per publisher until acked) or --rate publishes/s in all; deliveries/s,
# publish->delivery latency, server CPU per delivery (the floor has no rooms: skipped).
#
#   bash bench/compare/run.sh [--pairs N] [--window W] [--rate R] [--idle N] [--duration S]
#        [--room [--members N] [--publishers M] [--rooms K]]
#        [--warmup S] [--body-bytes N] [--wsg PATH] [--bench PATH] [--floor PATH] [--no-floor]
#        [--no-wsg] [--no-uws] [--no-socketio] [--procs P] [--out FILE] [--keep]
#
#   e.g. bash bench/compare/run.sh --room --members 1000 --publishers 1 --rate 10
#
# 1. uWebSockets.js + Redis pub/sub (the strongest peer): redis-server (no persistence) + two
#    uws_server.js, which speak the part of wsg's client protocol the load generator uses, so
#    `wsg-bench remote` drives them as it drives wsg, with --pid for both servers AND redis.
#    With --room they also speak wsg's join and publish: uWebSockets.js topics, Redis pub/sub
#    between the two servers.
# 2. Socket.IO + @socket.io/redis-adapter: the same Redis + two server.js; client.js drives them
#    (closed loop only: skipped with --rate, except with --room, where client.js has an open loop
#    too; rooms are socket.join and socket.to(room).emit through the adapter) and samples the CPU
#    (utime+stime in /proc/PID/stat, CLK_TCK from getconf) of both servers and redis over the
#    measured window. One client.js process is one Node.js event loop: in the room shape, with
#    hundreds of members, it falls behind its deliveries before Socket.IO does (its latency is
#    then the client's); give --procs 2 or more there and check that the latency falls no further.
# 3. wsg: a master and two nodes (the built wsg); `wsg-bench remote` with --pid for all three.
# 4. The floor (unless --no-floor): wsg-floor, the bare Beast relay; `wsg-bench remote --floor`.
# Then a table (msgs/s, p50/p99/p99.9, server CPU µs per delivered message; --room: deliveries/s,
# publishes/s, p50/p90/p99 of publish->delivery, CPU µs per delivery) and the ratios of wsg to each, and a JSON summary in --out (default: compare-results.json in the working directory).
#
# Installs what is missing: redis-server (apt-get, as root) and the npm packages (npm ci here).
# wsg defaults to build-test/wsg; wsg-bench and wsg-floor are looked for next to it (and in its
# build tree's bench/load, bench/floor). A missing one skips its half with a warning. Every
# process it starts is stopped on exit; every step is bounded in time. Exit 0 when every run
# that ran is clean (its report's ok), 1 otherwise, 2 on bad usage or a failed start.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

pairs=100 window=1 rate=0 idle=0 duration=10 warmup=2 body_bytes=64 procs=1
room=0 members=1000 publishers=1 rooms=1
wsg="$root/build-test/wsg" bench="" floor="" out="compare-results.json"
run_sio=1 run_uws=1 run_wsg=1 run_floor=1 keep=0

usage() { sed -n '2,40p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case "$1" in
    --pairs) pairs="$2"; shift 2 ;;
    --window) window="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --idle) idle="$2"; shift 2 ;;
    --room) room=1; shift ;;
    --members) members="$2"; shift 2 ;;
    --publishers) publishers="$2"; shift 2 ;;
    --rooms) rooms="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --body-bytes) body_bytes="$2"; shift 2 ;;
    --procs) procs="$2"; shift 2 ;;
    --wsg) wsg="$2"; shift 2 ;;
    --bench) bench="$2"; shift 2 ;;
    --floor) floor="$2"; shift 2 ;;
    --no-floor) run_floor=0; shift ;;
    --no-wsg) run_wsg=0; run_floor=0; shift ;;
    --no-socketio) run_sio=0; shift ;;
    --no-uws) run_uws=0; shift ;;
    --out) out="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
  esac
done
for v in pairs window rate idle body_bytes procs members publishers rooms; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "run.sh: --${v//_/-} needs a whole number" >&2; exit 2; }
done
for v in duration warmup; do
  [[ "${!v}" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "run.sh: --$v needs a number of seconds" >&2; exit 2; }
done
[[ "$wsg" = /* ]] || wsg="$PWD/$wsg"
[[ "$out" = /* ]] || out="$PWD/$out"
# Whole seconds bounding each load run: warm-up + window + connecting, draining and reporting.
run_bound=$(( ${duration%.*} + ${warmup%.*} + 90 ))

work="$(mktemp -d "${TMPDIR:-/tmp}/wsg-compare-XXXXXX")"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
cleanup() {
  local rc=$?
  bench_cleanup
  if ((keep)) || ((rc != 0)); then echo "run.sh: logs and reports kept in $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

find_tool() {  # name subdir: next to wsg, or in wsg's build tree
  local d; d="$(dirname "$wsg")"
  for c in "$d/$1" "$d/bench/$2/$1"; do [ -x "$c" ] && { echo "$c"; return 0; }; done
  echo "$d/$1"
}
[ -n "$bench" ] || bench="$(find_tool wsg-bench load)"
[ -n "$floor" ] || floor="$(find_tool wsg-floor floor)"

skipped=()
if ((run_wsg)) && { [ ! -x "$wsg" ] || [ ! -x "$bench" ]; }; then
  echo "run.sh: WARNING: wsg ($wsg) or wsg-bench ($bench) not found: the wsg and floor runs are skipped" >&2
  echo "        (build with scripts/build.sh, WSG_BUILD_BENCH=ON, and give --wsg / --bench)" >&2
  skipped+=("wsg: wsg or wsg-bench missing" "floor: wsg or wsg-bench missing")
  run_wsg=0 run_floor=0
fi
if ((run_floor)) && ((room == 0)) && [ ! -x "$floor" ]; then
  echo "run.sh: WARNING: wsg-floor ($floor) not found: the floor run is skipped" >&2
  skipped+=("floor: wsg-floor missing")
  run_floor=0
fi

common=(--pairs "$pairs" --window "$window" --duration "$duration" --warmup "$warmup" --body-bytes "$body_bytes")
# wsg-bench's own shape: the same, plus the open loop's rate.
bench_shape=("${common[@]}")
((rate > 0)) && bench_shape+=(--rate "$rate")
scenario=remote
if ((idle > 0)); then
  # Sockets spread over 40 source addresses; wsg-bench adds processes to stay under 19,000 each.
  scenario=idle
  bench_shape=(--sessions "$idle" --hold 5 --source-ips 127.0.0.1-127.0.0.40)
fi
if ((room)) && ((idle > 0)); then
  echo "run.sh: --room and --idle are two different shapes: give one" >&2; exit 2
fi
if ((room)); then
  # Sockets spread over 40 source addresses; wsg-bench adds processes to stay under 19,000 each.
  scenario=room
  bench_shape=(--members "$members" --publishers "$publishers" --rooms "$rooms" --window "$window"
               --duration "$duration" --warmup "$warmup" --body-bytes "$body_bytes" --source-ips 127.0.0.1-127.0.0.40)
  ((rate > 0)) && bench_shape+=(--rate "$rate")
  sio_shape=(--room --members "$members" --publishers "$publishers" --rooms "$rooms" --window "$window"
             --rate "$rate" --duration "$duration" --warmup "$warmup" --body-bytes "$body_bytes")
  if ((run_floor)); then
    echo "run.sh: the floor relay has no rooms: the floor run is skipped" >&2
    skipped+=("floor: no rooms in wsg-floor")
    run_floor=0
  fi
else
  sio_shape=("${common[@]}")
fi
if ((run_sio)) && ((idle > 0 || (rate > 0 && room == 0))); then
  echo "run.sh: client.js (Socket.IO) has no open loop and no idle mode: the socket.io run is skipped" >&2
  skipped+=("socketio: no open loop or idle mode in client.js")
  run_sio=0
fi
if ((run_uws)) && [ ! -x "$bench" ]; then
  echo "run.sh: WARNING: wsg-bench ($bench) not found: the uWebSockets.js run is skipped" >&2
  skipped+=("uws: wsg-bench missing")
  run_uws=0
fi

if ((room)); then
  shape_text="room: ${members} members in ${rooms} room(s), ${publishers} publisher(s), window ${window}, rate ${rate}, ${warmup}+${duration} s"
else
  shape_text="${pairs} pairs x ${window}, rate ${rate}, ${warmup}+${duration} s"
fi

# ---- Redis and the npm packages, for both Node.js peers --------------------------------------------
if ((run_sio || run_uws)); then
  if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
      bench_log "installing redis-server (apt-get)"
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q --no-install-recommends redis-server >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends redis-server >/dev/null; }
    else
      echo "run.sh: redis-server is missing (apt-get install redis-server, as root)" >&2; exit 2
    fi
  fi
  command -v node >/dev/null 2>&1 || { echo "run.sh: node (>= 20) is missing" >&2; exit 2; }
  if [ ! -f "$here/node_modules/.package-lock.json" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    bench_log "npm ci in bench/compare"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
fi

# A fresh redis-server for one run (no persistence); sets redis_port and redis_pid.
start_redis() {
  redis_port="$(bench_free_port)"
  bench_start "redis-$1" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no
  redis_pid=$started_pid
  for _ in $(seq 1 100); do
    [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
    kill -0 "$redis_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] || { echo "run.sh: redis did not start" >&2; tail "$work/redis-$1.log" >&2; exit 2; }
}

# ---- 1. uWebSockets.js + Redis pub/sub --------------------------------------------------------------
if ((run_uws)); then
  start_redis uws
  bench_start uws-1 node "$here/uws_server.js" 0 "redis://127.0.0.1:$redis_port" uws-1
  uws1_pid=$started_pid
  bench_start uws-2 node "$here/uws_server.js" 0 "redis://127.0.0.1:$redis_port" uws-2
  uws2_pid=$started_pid
  uws1_port="$(bench_wait_listening "$work/uws-1.log" "$uws1_pid" "uws_server.js uws-1")"
  uws2_port="$(bench_wait_listening "$work/uws-2.log" "$uws2_pid" "uws_server.js uws-2")"
  bench_log "uWebSockets.js: redis :$redis_port, servers :$uws1_port :$uws2_port; $shape_text"
  timeout -k 5 "$run_bound" "$bench" "$scenario" --ws "ws://127.0.0.1:$uws1_port/ws" --ws "ws://127.0.0.1:$uws2_port/ws" \
    "${bench_shape[@]}" --procs "$procs" --pid "uws-1=$uws1_pid" --pid "uws-2=$uws2_pid" --pid "redis=$redis_pid" \
    --json "$work/uws.json" >&2 || true
  bench_stop "$uws1_pid"; bench_stop "$uws2_pid"; bench_stop "$redis_pid"
  [ -s "$work/uws.json" ] || echo '{"ok":false,"problems":["wsg-bench wrote no report"]}' >"$work/uws.json"
fi

# ---- 2. Socket.IO + Redis ---------------------------------------------------------------------------
if ((run_sio)); then
  start_redis sio
  bench_start sio-1 node "$here/server.js" 0 "redis://127.0.0.1:$redis_port" sio-1
  sio1_pid=$started_pid
  bench_start sio-2 node "$here/server.js" 0 "redis://127.0.0.1:$redis_port" sio-2
  sio2_pid=$started_pid
  sio1_port="$(bench_wait_listening "$work/sio-1.log" "$sio1_pid" "server.js sio-1")"
  sio2_port="$(bench_wait_listening "$work/sio-2.log" "$sio2_pid" "server.js sio-2")"
  bench_log "socket.io: redis :$redis_port, servers :$sio1_port :$sio2_port; $shape_text"
  timeout -k 5 "$run_bound" node "$here/client.js" --ws "ws://127.0.0.1:$sio1_port/ws" --ws "ws://127.0.0.1:$sio2_port/ws" \
    "${sio_shape[@]}" --procs "$procs" --pid "sio-1=$sio1_pid" --pid "sio-2=$sio2_pid" --pid "redis=$redis_pid" \
    --json "$work/socketio.json" || true
  bench_stop "$sio1_pid"; bench_stop "$sio2_pid"; bench_stop "$redis_pid"
  [ -s "$work/socketio.json" ] || echo '{"ok":false,"problems":["client.js wrote no report"]}' >"$work/socketio.json"
fi

# ---- 3. wsg: master + two nodes -------------------------------------------------------------------
if ((run_wsg)); then
  bench_wsg_cluster "$wsg" 2 0 wsg || exit 2
  bench_log "wsg: master $cluster_master, nodes :${node_ports[0]} :${node_ports[1]}; $shape_text"
  timeout -k 5 "$run_bound" "$bench" "$scenario" --ws "ws://127.0.0.1:${node_ports[0]}/ws" --ws "ws://127.0.0.1:${node_ports[1]}/ws" \
    "${bench_shape[@]}" --procs "$procs" "${cluster_pid_args[@]}" \
    --json "$work/wsg.json" >&2 || true
  bench_wsg_cluster_stop
  [ -s "$work/wsg.json" ] || echo '{"ok":false,"problems":["wsg-bench wrote no report"]}' >"$work/wsg.json"
fi

# ---- 4. The floor ---------------------------------------------------------------------------------
if ((run_floor)); then
  bench_start floor "$floor" --listen 127.0.0.1:0
  floor_pid=$started_pid
  fport="$(bench_wait_listening "$work/floor.log" "$floor_pid" "wsg-floor")"
  bench_log "floor: wsg-floor :$fport; ${pairs} pairs x ${window}, ${warmup}+${duration} s"
  timeout -k 5 "$run_bound" "$bench" "$scenario" --floor --ws "ws://127.0.0.1:$fport/ws" --ws "ws://127.0.0.1:$fport/ws" \
    "${bench_shape[@]}" --procs "$procs" --pid "floor=$floor_pid" --json "$work/floor.json" >&2 || true
  bench_stop "$floor_pid"
  [ -s "$work/floor.json" ] || echo '{"ok":false,"problems":["wsg-bench wrote no report"]}' >"$work/floor.json"
fi

# ---- Table, ratios, summary -----------------------------------------------------------------------
WSG_COMPARE_DIR="$here" python3 - "$work" "$out" "$pairs" "$window" "$duration" "$warmup" "$body_bytes" "$rate" "$idle" \
  "$room" "$members" "$publishers" "$rooms" "${skipped[@]}" <<'EOF'
import json, os, platform, subprocess, sys, datetime
work, out = sys.argv[1], sys.argv[2]
pairs, window, duration, warmup, body, rate, idle = sys.argv[3:10]
room, members, publishers, rooms = int(sys.argv[10]), sys.argv[11], sys.argv[12], sys.argv[13]
skipped = sys.argv[14:]

def load(name):
    p = os.path.join(work, name + ".json")
    if not os.path.exists(p):
        return None
    try:
        with open(p) as f:
            return json.load(f)
    except ValueError as e:
        return {"ok": False, "problems": ["unreadable report: %s" % e]}

runs = {"uws": load("uws"), "socketio": load("socketio"), "wsg": load("wsg"), "floor": load("floor")}
labels = {"uws": "uWS.js+redis", "socketio": "socket.io+redis", "wsg": "wsg (2 nodes)", "floor": "wsg-floor"}

def lat(r, k):
    return (r.get("latency_us") or {}).get(k)

def fmt(v, nd=0):
    if v is None:
        return "-"
    return ("{:,.%df}" % nd).format(v)

def kib(r):
    return (r.get("idle") or {}).get("kib_per_session")

rows = []
if int(idle) > 0:
    print("%-16s %10s %14s  %s" % ("system", "sessions", "KiB/session", "ok"))
for k, r in runs.items():
    if r is None:
        continue
    if int(idle) > 0:
        print("%-16s %10s %14s  %s" % (labels[k], fmt((r.get("idle") or {}).get("sessions")), fmt(kib(r), 2),
              "yes" if r.get("ok") else "NO"))
        for p in r.get("problems", [])[:5]:
            print("    problem: %s" % p)
        continue
    if room:
        # Rooms: throughput_msgs_per_s is deliveries/s and server_cpu_us_per_msg is per delivery.
        if not rows:
            rows.append(k)
            print("%-16s %13s %12s %9s %9s %9s %13s  %s" % ("system", "deliveries/s", "publishes/s", "p50 us",
                  "p90 us", "p99 us", "CPU us/deliv", "ok"))
        print("%-16s %13s %12s %9s %9s %9s %13s  %s" % (labels[k], fmt(r.get("throughput_msgs_per_s")),
              fmt((r.get("room") or {}).get("publishes_per_s")), fmt(lat(r, "p50")), fmt(lat(r, "p90")),
              fmt(lat(r, "p99")), fmt(r.get("server_cpu_us_per_msg"), 2), "yes" if r.get("ok") else "NO"))
        for p in r.get("problems", [])[:5]:
            print("    problem: %s" % p)
        continue
    if not rows:
        rows.append(k)
        print("%-16s %12s %9s %9s %9s %11s  %s" % ("system", "msgs/s", "p50 us", "p99 us", "p99.9 us", "CPU us/msg", "ok"))
    print("%-16s %12s %9s %9s %9s %11s  %s" % (labels[k], fmt(r.get("throughput_msgs_per_s")), fmt(lat(r, "p50")),
          fmt(lat(r, "p99")), fmt(lat(r, "p999")), fmt(r.get("server_cpu_us_per_msg"), 1), "yes" if r.get("ok") else "NO"))
    for p in r.get("problems", [])[:5]:
        print("    problem: %s" % p)

def ratio(a, b):
    return round(a / b, 3) if a is not None and b not in (None, 0) else None

def get(k, f):
    r = runs.get(k)
    return f(r) if r else None

tp = lambda r: r.get("throughput_msgs_per_s")
cpu = lambda r: r.get("server_cpu_us_per_msg")
p50 = lambda r: lat(r, "p50")
ratios = {
    "wsg_over_uws_throughput": ratio(get("wsg", tp), get("uws", tp)),
    "wsg_over_uws_cpu_per_msg": ratio(get("wsg", cpu), get("uws", cpu)),
    "wsg_over_uws_p50": ratio(get("wsg", p50), get("uws", p50)),
    "wsg_over_floor_throughput": ratio(get("wsg", tp), get("floor", tp)),
    "wsg_over_socketio_throughput": ratio(get("wsg", tp), get("socketio", tp)),
    "socketio_over_wsg_cpu_per_msg": ratio(get("socketio", cpu), get("wsg", cpu)),
    "wsg_over_floor_cpu_per_msg": ratio(get("wsg", cpu), get("floor", cpu)),
    "wsg_over_uws_kib_per_idle_session": ratio(get("wsg", kib), get("uws", kib)),
    "wsg_over_floor_kib_per_idle_session": ratio(get("wsg", kib), get("floor", kib)),
}
if room:
    # The same figures under the rooms' names (deliveries, CPU per delivery).
    ratios = {
        "wsg_over_uws_deliveries": ratios["wsg_over_uws_throughput"],
        "wsg_over_uws_cpu_per_delivery": ratios["wsg_over_uws_cpu_per_msg"],
        "wsg_over_uws_p50": ratios["wsg_over_uws_p50"],
        "wsg_over_socketio_deliveries": ratios["wsg_over_socketio_throughput"],
        "socketio_over_wsg_cpu_per_delivery": ratios["socketio_over_wsg_cpu_per_msg"],
        "wsg_over_socketio_p50": ratio(get("wsg", p50), get("socketio", p50)),
    }
print()
if int(idle) > 0:
    print("wsg / uWS.js KiB per idle session:   %s" % fmt(ratios["wsg_over_uws_kib_per_idle_session"], 3))
    print("wsg / floor KiB per idle session:    %s" % fmt(ratios["wsg_over_floor_kib_per_idle_session"], 3))
print()
if room:
    for line in (
        "wsg / uWS.js deliveries/s:           %s" % fmt(ratios["wsg_over_uws_deliveries"], 3),
        "wsg / uWS.js CPU per delivery:       %s" % fmt(ratios["wsg_over_uws_cpu_per_delivery"], 3),
        "wsg / uWS.js p50 latency:            %s" % fmt(ratios["wsg_over_uws_p50"], 3),
        "wsg / socket.io deliveries/s:        %s" % fmt(ratios["wsg_over_socketio_deliveries"], 3),
        "socket.io / wsg CPU per delivery:    %s" % fmt(ratios["socketio_over_wsg_cpu_per_delivery"], 3),
        "wsg / socket.io p50 latency:         %s" % fmt(ratios["wsg_over_socketio_p50"], 3)):
        print(line)
for line in () if int(idle) > 0 or room else (
    "wsg / uWS.js throughput:             %s" % fmt(ratios["wsg_over_uws_throughput"], 3),
    "wsg / uWS.js CPU per message:        %s" % fmt(ratios["wsg_over_uws_cpu_per_msg"], 3),
    "wsg / uWS.js p50 latency:            %s" % fmt(ratios["wsg_over_uws_p50"], 3),
    "wsg / floor throughput:              %s" % fmt(ratios["wsg_over_floor_throughput"], 3),
    "wsg / socket.io throughput:          %s" % fmt(ratios["wsg_over_socketio_throughput"], 3),
    "socket.io / wsg CPU per message:     %s" % fmt(ratios["socketio_over_wsg_cpu_per_msg"], 3),
    "wsg / floor CPU per message:         %s" % fmt(ratios["wsg_over_floor_cpu_per_msg"], 3)):
    print(line)
for s in skipped:
    print("skipped: %s" % s)

def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "loadavg": os.getloadavg()}

versions = {}
try:
    versions["redis"] = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
    versions["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
except OSError:
    pass
try:
    with open(os.path.join(os.environ.get("WSG_COMPARE_DIR", "."), "package.json")) as f:
        versions["npm"] = json.load(f).get("dependencies", {})
except (OSError, ValueError):
    pass
summary = {
    "tool": "wsg-compare", "version": 1,
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "machine": machine(), "versions": versions,
    "options": {"pairs": int(pairs), "window": int(window), "rate": int(rate), "idle": int(idle),
                "duration": float(duration),
                "warmup": float(warmup),
                "body_bytes": int(body),
                "room": ({"members": int(members), "publishers": int(publishers), "rooms": int(rooms)}
                         if room else None)},
    "runs": {k: v for k, v in runs.items() if v is not None},
    "skipped": skipped,
    "ratios": ratios,
    "ok": all(v.get("ok") for v in runs.values() if v is not None) and any(v is not None for v in runs.values()),
}
with open(out, "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")
print("\nsummary: %s" % out)
sys.exit(0 if summary["ok"] else 1)
EOF
