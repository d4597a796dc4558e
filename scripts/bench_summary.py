#!/usr/bin/env python3
"""Markdown tables of a scripts/bench.sh results directory, one per target of docs/benchmarks.md
("Per target: commands and figures"), in the docs' columns: figure, floor, wsg, peer, ratio, date,
machine. Usage: bench_summary.py RESULTS_DIR [QUICK(0|1)]. A figure from a run that was not clean
(its report's ok is false) is marked with "(!)" and its problems are listed under the table."""
import datetime
import json
import os
import platform
import sys

results = sys.argv[1]
quick = len(sys.argv) > 2 and sys.argv[2] == "1"
notes = []


def load(name):
    path = os.path.join(results, name + ".json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        return {"ok": False, "problems": ["unreadable report: %s" % e]}


def dig(r, *keys):
    for k in keys:
        if not isinstance(r, dict) or r.get(k) is None:
            return None
        r = r[k]
    return r


def fmt(v, digits=0):
    if v is None:
        return "-"
    if isinstance(v, (int, float)):
        return ("{:,.%df}" % digits).format(v)
    return str(v)


def cell(run, name, *keys, digits=0):
    """A figure from a report; '(!)' when that report is not clean."""
    if run is None:
        return "-"
    v = dig(run, *keys)
    text = fmt(v, digits)
    if not run.get("ok", False) and v is not None:
        text += " (!)"
        problems = run.get("problems") or []
        note = "%s: %s" % (name, "; ".join(str(p) for p in problems[:3]) or "not ok")
        if note not in notes:
            notes.append(note)
    return text


def ratio(a, b, digits=2):
    if a is None or b in (None, 0):
        return "-"
    return fmt(a / b, digits)


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = "?"
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem_gib = "%d GiB" % round(kib / 1048576)
    except (OSError, ValueError, IndexError):
        pass
    return "%d cores %s, %s, Linux %s" % (os.cpu_count() or 0, model, mem_gib, platform.release())


date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
mach = machine()
out = []


def table(title, rows):
    out.append("### " + title)
    out.append("")
    out.append("| figure | floor | wsg | peer | ratio | date | machine |")
    out.append("|---|---|---|---|---|---|---|")
    for r in rows:
        out.append("| " + " | ".join(list(r) + [date, mach]) + " |")
    out.append("")


out.append("<!-- scripts/bench.sh%s: %s -->" % (" --quick (NOT the targets' sizes)" if quick else "", results))
out.append("")

# 1. Throughput
fl, fr, wl, wr = load("1-floor-local"), load("1-floor-remote"), load("1-wsg-local"), load("1-wsg-remote")
if any((fl, fr, wl, wr)):
    rows = []
    for label, f, w in (("local", fl, wl), ("remote", fr, wr)):
        rows.append(("%s closed loop, msgs/s (ratio wsg/floor)" % label, cell(f, "1-floor-" + label, "throughput_msgs_per_s"),
                     cell(w, "1-wsg-" + label, "throughput_msgs_per_s"), "-",
                     ratio(dig(w, "throughput_msgs_per_s"), dig(f, "throughput_msgs_per_s"))))
        rows.append(("%s p50 / p99 / p99.9, µs" % label,
                     "%s / %s / %s" % (cell(f, "1-floor-" + label, "latency_us", "p50"), cell(f, "1-floor-" + label, "latency_us", "p99"),
                                       cell(f, "1-floor-" + label, "latency_us", "p999")),
                     "%s / %s / %s" % (cell(w, "1-wsg-" + label, "latency_us", "p50"), cell(w, "1-wsg-" + label, "latency_us", "p99"),
                                       cell(w, "1-wsg-" + label, "latency_us", "p999")), "-", "-"))
        rows.append(("%s server CPU µs/msg (ratio wsg/floor)" % label, cell(f, "1-floor-" + label, "server_cpu_us_per_msg", digits=1),
                     cell(w, "1-wsg-" + label, "server_cpu_us_per_msg", digits=1), "-",
                     ratio(dig(w, "server_cpu_us_per_msg"), dig(f, "server_cpu_us_per_msg"))))
    table("1. Closed-loop throughput: floor vs wsg", rows)

# 2. Compare
c = load("2-compare")
if c is not None:
    runs = c.get("runs") or {}
    s, w, f = runs.get("socketio"), runs.get("wsg"), runs.get("floor")
    tp = "throughput_msgs_per_s"
    cpu = "server_cpu_us_per_msg"
    rows = [
        ("remote closed loop, msgs/s (ratio wsg/peer)", cell(f, "2-compare floor", tp), cell(w, "2-compare wsg", tp),
         cell(s, "2-compare socket.io", tp), ratio(dig(w, tp), dig(s, tp))),
        ("p99, µs (ratio peer/wsg)", cell(f, "2-compare floor", "latency_us", "p99"), cell(w, "2-compare wsg", "latency_us", "p99"),
         cell(s, "2-compare socket.io", "latency_us", "p99"), ratio(dig(s, "latency_us", "p99"), dig(w, "latency_us", "p99"))),
        ("server CPU µs/msg (ratio peer/wsg)", cell(f, "2-compare floor", cpu, digits=1), cell(w, "2-compare wsg", cpu, digits=1),
         cell(s, "2-compare socket.io", cpu, digits=1), ratio(dig(s, cpu), dig(w, cpu))),
    ]
    for skipped in c.get("skipped") or []:
        notes.append("2-compare skipped %s" % skipped)
    if not runs:
        notes.append("2-compare: %s" % "; ".join(c.get("problems") or ["no run"]))
    table("2. wsg vs Socket.IO + Redis adapter (peer), same workload", rows)

# 3. Idle
wi, fi = load("3-wsg-idle"), load("3-floor-idle")
if wi or fi:
    rows = [
        ("sessions held", cell(fi, "3-floor-idle", "idle", "sessions"), cell(wi, "3-wsg-idle", "idle", "sessions"), "-", "-"),
        ("RSS per session, KiB (ratio wsg/floor)", cell(fi, "3-floor-idle", "idle", "kib_per_session", digits=2),
         cell(wi, "3-wsg-idle", "idle", "kib_per_session", digits=2), "-",
         ratio(dig(wi, "idle", "kib_per_session"), dig(fi, "idle", "kib_per_session"))),
    ]
    table("3. Idle sessions on one node", rows)

# 4. Four nodes
ci, cc = load("4-cluster-idle"), load("4-cluster-check")
if ci or cc:
    check = "-"
    if cc:
        check = "%s of %s%s" % (fmt(cc.get("master_sessions_max_seen")), fmt(cc.get("expected")), "" if cc.get("ok") else " (!)")
        if not cc.get("ok"):
            notes.append("4-cluster-check: the master counted %s sessions, expected %s" %
                         (fmt(cc.get("master_sessions_max_seen")), fmt(cc.get("expected"))))
    per_server = []
    for sv in dig(ci, "servers") or []:
        if sv.get("rss_delta_kib") is not None:
            per_server.append("%s +%s MiB" % (sv.get("name"), fmt(sv["rss_delta_kib"] / 1024, 0)))
    rows = [
        ("master.sessions (wsg status)", "-", check, "-", "-"),
        ("sessions opened / failed", "-", "%s / %s" % (cell(ci, "4-cluster-idle", "sessions", "opened"),
                                                      cell(ci, "4-cluster-idle", "sessions", "failed")), "-", "-"),
        ("RSS per session, master + nodes, KiB", "-", cell(ci, "4-cluster-idle", "idle", "kib_per_session", digits=2), "-", "-"),
        ("RSS growth per process", "-", ", ".join(per_server) or "-", "-", "-"),
    ]
    table("4. Four nodes × 19,000 sessions registered at the master", rows)

# 5. Open loop
o = load("5-wsg-open")
if o:
    rate = dig(o, "options", "rate")
    rows = [
        ("offered, msgs/s", "-", fmt(rate), "-", "-"),
        ("delivered, msgs/s", "-", cell(o, "5-wsg-open", "throughput_msgs_per_s"), "-", "-"),
        ("p50 / p99 / p99.9, µs", "-", "%s / %s / %s" % (cell(o, "5-wsg-open", "latency_us", "p50"), cell(o, "5-wsg-open", "latency_us", "p99"),
                                                         cell(o, "5-wsg-open", "latency_us", "p999")), "-", "-"),
        ("lost", "-", cell(o, "5-wsg-open", "messages", "lost"), "-", "-"),
        ("server CPU µs/msg", "-", cell(o, "5-wsg-open", "server_cpu_us_per_msg", digits=1), "-", "-"),
    ]
    table("5. Open loop across two nodes", rows)

# 6. Storm
ws_, fs_ = load("6-wsg-storm"), load("6-floor-storm")
if ws_ or fs_:
    rows = [
        ("sessions/s (ratio wsg/floor)", cell(fs_, "6-floor-storm", "storm", "sessions_per_s"), cell(ws_, "6-wsg-storm", "storm", "sessions_per_s"),
         "-", ratio(dig(ws_, "storm", "sessions_per_s"), dig(fs_, "storm", "sessions_per_s"))),
        ("connect → welcome p50 / p99, µs",
         "%s / %s" % (cell(fs_, "6-floor-storm", "storm", "connect_latency_us", "p50"), cell(fs_, "6-floor-storm", "storm", "connect_latency_us", "p99")),
         "%s / %s" % (cell(ws_, "6-wsg-storm", "storm", "connect_latency_us", "p50"), cell(ws_, "6-wsg-storm", "storm", "connect_latency_us", "p99")),
         "-", "-"),
        ("server CPU µs/session", cell(fs_, "6-floor-storm", "storm", "server_cpu_us_per_session", digits=1),
         cell(ws_, "6-wsg-storm", "storm", "server_cpu_us_per_session", digits=1), "-", "-"),
    ]
    table("6. Connection storm (two nodes)", rows)

if notes:
    out.append("Not clean (figures marked (!)):")
    out.append("")
    for n in notes:
        out.append("- " + n)
    out.append("")
print("\n".join(out))
