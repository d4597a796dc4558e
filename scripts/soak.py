#!/usr/bin/python3
"""wsg soak: the load client and the report, driven by scripts/soak.sh (see docs/soak.md).

    soak.py ports N                  print N free loopback TCP ports
    soak.py run --out DIR --node node-1=ws://127.0.0.1:P ... --restarted node-3 [options]
    soak.py report --out DIR         read DIR/client.json, events.jsonl, rss.csv; write report.json
                                     and summary.txt; exit 0 on PASS, 1 on FAIL

The load is bounded: a fixed set of stable users (one connection each, reconnected only when the
server closes it), a fixed message rate, churn connections at a fixed rate with a cap on how many
are open at once, and a deadline after which nothing new is sent.

Message classes:
  stable     sender on a node that is never restarted (a stable user or a churn user) and recipient a
             stable user on such a node. Every one must be acked "delivered" and received exactly once,
             in order per (sender, recipient). These are the numbers the verdict is about.
  restarted  sender or recipient on the restarted node: reported, not counted as loss (a send to a
             user whose node is draining or down is legitimately offline/failed).
"""

import argparse
import array
import asyncio
import json
import os
import random
import socket
import statistics
import sys
import time

STABLE, RESTARTED = "stable", "restarted"
CLASSES = (STABLE, RESTARTED)


# ---------------------------------------------------------------------------------------------- ports

def cmd_ports(args):
    socks = []
    for _ in range(args.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()
    return 0


# ------------------------------------------------------------------------------------------------ run

def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def lat_summary(values_s):
    if not values_s:
        return {"n": 0}
    ms = [x * 1000.0 for x in values_s]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 2), "p90_ms": round(pct(ms, 90), 2),
            "p99_ms": round(pct(ms, 99), 2), "p999_ms": round(pct(ms, 99.9), 2),
            "max_ms": round(max(ms), 2)}


class Msg:
    __slots__ = ("key", "sender", "recipient", "cls", "seq", "t_send", "sender_gen", "recip_up",
                 "ack", "ack_id", "t_ack", "recv", "recv_id", "t_recv")

    def __init__(self, key, sender, recipient, cls, seq, t_send, sender_gen, recip_up):
        self.key, self.sender, self.recipient, self.cls, self.seq = key, sender, recipient, cls, seq
        self.t_send, self.sender_gen, self.recip_up = t_send, sender_gen, recip_up
        self.ack = self.ack_id = self.t_ack = None
        self.recv = 0
        self.recv_id = self.t_recv = None


class ClassStats:
    def __init__(self):
        self.sent = 0
        self.ok = 0              # ack delivered, received once, ids match: finalised early
        self.dup = 0             # received more than once
        self.ooo = 0             # received after a later message of the same (sender, recipient)
        self.id_mismatch = 0     # ack id differs from the message frame's id
        self.skipped_sender_down = 0
        self.send_failed = 0     # the sender's connection closed under ws.send
        self.ack_lat = array.array("d")
        self.recv_lat = array.array("d")

    def to_json(self):
        return {"sent": self.sent, "ok": self.ok, "duplicates": self.dup, "out_of_order": self.ooo,
                "id_mismatch": self.id_mismatch, "skipped_sender_down": self.skipped_sender_down,
                "send_failed_connection_closed": self.send_failed,
                "latency_send_to_ack": lat_summary(self.ack_lat),
                "latency_send_to_receive": lat_summary(self.recv_lat)}


class User:
    def __init__(self, name, node, url):
        self.name, self.node, self.url = name, node, url
        self.ws = None
        self.up_since = None      # time of the welcome of the current connection
        self.gen = 0              # connection generation (incremented at each welcome)
        self.disconnects = []     # [t_close, code, reason, t_back or None]
        self.connect_failures = {}


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.nodes = dict(kv.split("=", 1) for kv in args.node)
        self.restarted = args.restarted
        self.stable_nodes = [n for n in self.nodes if n != self.restarted]
        self.users = {}
        self.stable_users = []        # on stable nodes
        self.all_users = []
        self.pending = {}             # key -> Msg
        self.done = set()             # keys finalised ok
        self.last_seq = {}            # (sender, recipient) -> last seq received
        self.next_seq = {}            # (sender, recipient) -> last seq sent
        self.key = 0
        self.cls = {c: ClassStats() for c in CLASSES}
        self.errors = {}              # error code -> count
        self.error_samples = []
        self.bad_frames = 0
        self.bad_frame_samples = []
        self.unknown_messages = 0
        self.unknown_acks = 0
        self.welcome_violations = []
        self.stopping = False
        self.sending = False
        self.sched_lag_max = 0.0
        self.churn = {"attempts": 0, "skipped_at_cap": 0, "welcomed": 0, "completed": 0,
                      "by_node": {n: {"attempts": 0, "welcomed": 0, "completed": 0, "failures": {}}
                                  for n in self.nodes},
                      "open_max": 0}
        self.churn_open = 0
        self.t_ready = self.t_load_end = self.t_end = None

    # -- helpers
    def now(self):
        return time.time()

    def new_key(self):
        self.key += 1
        return self.key

    def classify(self, sender_node, recipient_user):
        if sender_node == self.restarted or recipient_user.node == self.restarted:
            return RESTARTED
        return STABLE

    def record_error(self, frame):
        code = str(frame.get("code"))
        self.errors[code] = self.errors.get(code, 0) + 1
        if len(self.error_samples) < 20:
            self.error_samples.append(frame)

    def bad_frame(self, who, raw):
        self.bad_frames += 1
        if len(self.bad_frame_samples) < 20:
            self.bad_frame_samples.append({"user": who, "frame": str(raw)[:300]})

    # -- frames
    def handle(self, user, raw):
        """A frame for user (a name). Returns the frame (dict) or None."""
        now = self.now()
        try:
            frame = json.loads(raw)
        except (TypeError, ValueError):
            self.bad_frame(user, raw)
            return None
        if not isinstance(frame, dict):
            self.bad_frame(user, raw)
            return None
        t = frame.get("type")
        if t == "message":
            body = frame.get("body")
            if (not isinstance(body, dict) or frame.get("to") != user or body.get("r") != user
                    or frame.get("from") != body.get("s") or not isinstance(frame.get("id"), str)):
                self.bad_frame(user, raw)
                return frame
            key, cls = body.get("k"), body.get("c")
            st = self.cls.get(cls)
            if st is None:
                self.bad_frame(user, raw)
                return frame
            pair = (body["s"], user)
            seq = body.get("q", 0)
            m = self.pending.get(key)
            if key in self.done or (m is not None and m.recv > 0):
                st.dup += 1
                if m is not None:
                    m.recv += 1
                return frame
            if m is None:
                self.unknown_messages += 1
                return frame
            last = self.last_seq.get(pair, 0)
            if seq < last:
                st.ooo += 1
            else:
                self.last_seq[pair] = seq
            m.recv = 1
            m.recv_id = frame["id"]
            m.t_recv = now
            st.recv_lat.append(now - m.t_send)
            self.maybe_finalise(m)
        elif t == "ack":
            try:
                key = int(frame.get("ref"))
            except (TypeError, ValueError):
                self.bad_frame(user, raw)
                return frame
            m = self.pending.get(key)
            if m is None or m.ack is not None:
                self.unknown_acks += 1
                return frame
            m.ack = frame.get("status")
            m.ack_id = frame.get("id")
            m.t_ack = now
            self.cls[m.cls].ack_lat.append(now - m.t_send)
            self.maybe_finalise(m)
        elif t == "error":
            self.record_error(frame)
        elif t == "welcome":
            self.welcome_violations.append({"user": user, "why": "welcome after the first frame"})
        else:
            self.bad_frame(user, raw)
        return frame

    def maybe_finalise(self, m):
        if m.ack == "delivered" and m.recv == 1:
            st = self.cls[m.cls]
            if m.ack_id != m.recv_id:
                st.id_mismatch += 1
            st.ok += 1
            del self.pending[m.key]
            self.done.add(m.key)

    async def send(self, ws, sender_name, sender_node, sender_gen, recipient):
        cls = self.classify(sender_node, recipient)
        st = self.cls[cls]
        pair = (sender_name, recipient.name)
        seq = self.next_seq.get(pair, 0) + 1
        self.next_seq[pair] = seq
        key = self.new_key()
        now = self.now()
        recip_up = recipient.ws is not None and recipient.up_since is not None and now - recipient.up_since >= 0.1
        m = Msg(key, sender_name, recipient.name, cls, seq, now, sender_gen, recip_up)
        self.pending[key] = m
        frame = {"type": "send", "to": recipient.name, "id": str(key),
                 "body": {"k": key, "q": seq, "c": cls, "s": sender_name, "r": recipient.name,
                          "pad": "x" * self.args.pad}}
        try:
            await ws.send(json.dumps(frame, separators=(",", ":")))
        except websockets.exceptions.ConnectionClosed:
            del self.pending[key]
            st.send_failed += 1
            return None
        st.sent += 1
        return key

    # -- welcome
    def check_welcome(self, user, node, raw):
        try:
            f = json.loads(raw)
        except (TypeError, ValueError):
            f = None
        if (not isinstance(f, dict) or f.get("type") != "welcome" or f.get("user") != user
                or f.get("node") != node or not isinstance(f.get("session"), str) or not f["session"]):
            self.welcome_violations.append({"user": user, "node": node, "first_frame": str(raw)[:300]})
            return False
        return True

    async def connect(self, url):
        return await websockets.connect(url, open_timeout=5, close_timeout=2, compression=None,
                                        max_queue=None)

    # -- stable users
    async def user_loop(self, u, ready):
        while not self.stopping:
            try:
                ws = await self.connect(u.url)
            except Exception as e:  # refused, 503, timeout...: retry while the node restarts
                why = failure_reason(e)
                u.connect_failures[why] = u.connect_failures.get(why, 0) + 1
                await asyncio.sleep(0.25)
                continue
            try:
                first = await asyncio.wait_for(ws.recv(), 5)
                if not self.check_welcome(u.name, u.node, first):
                    self.handle(u.name, first)
                u.ws, u.up_since = ws, self.now()
                u.gen += 1
                if u.disconnects and u.disconnects[-1][3] is None:
                    u.disconnects[-1][3] = u.up_since
                ready.set()
                async for raw in ws:
                    self.handle(u.name, raw)
            except (asyncio.TimeoutError, websockets.exceptions.ConnectionClosed):
                pass
            u.ws = None
            if self.stopping:
                break
            u.disconnects.append([self.now(), ws.close_code, ws.close_reason, None])
            await ws.close()
            await asyncio.sleep(0.25)

    # -- churn
    async def churn_one(self, i):
        node = self.rng.choice(list(self.nodes))
        name = f"churn-{self.args.seed}-{i}"
        bn = self.churn["by_node"][node]
        self.churn["attempts"] += 1
        bn["attempts"] += 1
        self.churn_open += 1
        self.churn["open_max"] = max(self.churn["open_max"], self.churn_open)
        try:
            try:
                ws = await self.connect(f"{self.nodes[node]}/ws?user={name}")
            except Exception as e:
                why = failure_reason(e)
                bn["failures"][why] = bn["failures"].get(why, 0) + 1
                return
            try:
                first = await asyncio.wait_for(ws.recv(), 5)
                if not self.check_welcome(name, node, first):
                    return
                self.churn["welcomed"] += 1
                bn["welcomed"] += 1
                keys = set()
                for _ in range(self.args.churn_msgs):
                    k = await self.send(ws, name, node, 1, self.rng.choice(self.stable_users))
                    if k is not None:
                        keys.add(k)
                deadline = self.now() + 5
                while any(k in self.pending and self.pending[k].ack is None for k in keys):
                    left = deadline - self.now()
                    if left <= 0:
                        raise asyncio.TimeoutError()
                    raw = await asyncio.wait_for(ws.recv(), left)
                    self.handle(name, raw)
                await ws.close()
                self.churn["completed"] += 1
                bn["completed"] += 1
            except asyncio.TimeoutError:
                bn["failures"]["timeout_after_welcome"] = bn["failures"].get("timeout_after_welcome", 0) + 1
                await ws.close()
            except websockets.exceptions.ConnectionClosed:
                why = f"closed {ws.close_code} {ws.close_reason}".strip()
                bn["failures"][why] = bn["failures"].get(why, 0) + 1
        finally:
            self.churn_open -= 1

    async def churn_loop(self, deadline):
        tasks = set()
        i = 0
        period = 1.0 / self.args.churn_rate if self.args.churn_rate > 0 else None
        if period is None:
            return
        t0 = self.now()
        while self.now() < deadline:
            i += 1
            if self.churn_open >= self.args.churn_max:
                self.churn["skipped_at_cap"] += 1
            else:
                t = asyncio.create_task(self.churn_one(i))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            await asyncio.sleep(max(0.0, t0 + i * period - self.now()))
        if tasks:
            await asyncio.wait(tasks, timeout=15)

    # -- traffic between stable users
    async def traffic_loop(self, deadline):
        t0 = self.now()
        done = 0
        while True:
            now = self.now()
            if now >= deadline:
                break
            due = int((now - t0) * self.args.rate)
            self.sched_lag_max = max(self.sched_lag_max, (due - done) / self.args.rate)
            while done < due:
                done += 1
                s = self.rng.choice(self.all_users)
                r = self.rng.choice(self.all_users)
                while r is s:
                    r = self.rng.choice(self.all_users)
                ws = s.ws
                if ws is None:
                    self.cls[self.classify(s.node, r)].skipped_sender_down += 1
                    continue
                await self.send(ws, s.name, s.node, s.gen, r)
            await asyncio.sleep(0.01)

    async def progress(self, deadline):
        while not self.stopping:
            await asyncio.sleep(10)
            up = sum(1 for u in self.all_users if u.ws is not None)
            print(f"[{self.now() - self.t_ready:7.1f}s] users up {up}/{len(self.all_users)}  "
                  f"sent stable {self.cls[STABLE].sent} restarted {self.cls[RESTARTED].sent}  "
                  f"pending {len(self.pending)}  churn {self.churn['attempts']} "
                  f"(open {self.churn_open})  lag max {self.sched_lag_max:.2f}s", flush=True)

    def settled(self):
        return not any(m.cls == STABLE and (m.ack is None or m.recv == 0) for m in self.pending.values())

    async def main(self):
        a = self.args
        n_stable = a.stable_users
        for i in range(n_stable):
            node = self.stable_nodes[i % len(self.stable_nodes)]
            u = User(f"stable-{i:04d}", node, f"{self.nodes[node]}/ws?user=stable-{i:04d}")
            self.users[u.name] = u
            self.stable_users.append(u)
        for i in range(a.restarted_users):
            u = User(f"rs-{i:04d}", self.restarted, f"{self.nodes[self.restarted]}/ws?user=rs-{i:04d}")
            self.users[u.name] = u
        self.all_users = list(self.users.values())

        user_tasks = []
        t_connect = self.now()
        for i, u in enumerate(self.all_users):
            ev = asyncio.Event()
            user_tasks.append((asyncio.create_task(self.user_loop(u, ev)), ev))
            if i % 20 == 19:
                await asyncio.sleep(0.05)
        try:
            await asyncio.wait_for(asyncio.gather(*(ev.wait() for _, ev in user_tasks)), 60)
        except asyncio.TimeoutError:
            print("FAIL: not every stable user got its welcome within 60 s", file=sys.stderr)
            self.stopping = True
            for t, _ in user_tasks:
                t.cancel()
            return 2
        self.t_ready = self.now()
        print(f"{len(self.all_users)} users connected in {self.t_ready - t_connect:.1f}s; "
              f"load for {a.minutes} min", flush=True)
        with open(os.path.join(a.out, "client.ready"), "w") as f:
            json.dump({"t_ready": self.t_ready}, f)

        deadline = self.t_ready + a.minutes * 60.0
        prog = asyncio.create_task(self.progress(deadline))
        await asyncio.gather(self.traffic_loop(deadline), self.churn_loop(deadline))
        self.t_load_end = self.now()
        # grace: let the last acks and messages arrive
        grace_end = self.t_load_end + a.grace
        while self.now() < grace_end and not self.settled():
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)   # a late duplicate would show up here
        self.stopping = True
        prog.cancel()
        for u in self.all_users:
            if u.ws is not None:
                try:
                    await asyncio.wait_for(u.ws.close(), 3)
                except Exception:
                    pass
        await asyncio.wait([t for t, _ in user_tasks], timeout=10)
        for t, _ in user_tasks:
            t.cancel()
        self.t_end = self.now()
        self.write()
        return 0

    def write(self):
        res = {c: self.cls[c].to_json() for c in CLASSES}
        for c in CLASSES:
            r = res[c]
            r.update({"ack_delivered": self.cls[c].ok, "ack_offline": 0, "ack_failed": 0, "ack_other": 0,
                      "no_ack": 0, "no_ack_sender_reconnected": 0,
                      "received_once": self.cls[c].ok, "never_received": 0,
                      "delivered_never_received": 0, "offline_or_failed_recipient_connected": 0,
                      "offline_or_failed_recipient_down": 0, "not_delivered_but_received": 0,
                      "lost": 0, "lost_samples": []})
        for m in self.pending.values():
            r = res[m.cls]
            sender = self.users.get(m.sender)
            if m.ack == "delivered":
                r["ack_delivered"] += 1
            elif m.ack == "offline":
                r["ack_offline"] += 1
            elif m.ack == "failed":
                r["ack_failed"] += 1
            elif m.ack is None:
                if sender is not None and sender.gen != m.sender_gen:
                    r["no_ack_sender_reconnected"] += 1
                else:
                    r["no_ack"] += 1
            else:
                r["ack_other"] += 1
            if m.recv:
                r["received_once"] += 1
                if m.ack_id is not None and m.ack_id != m.recv_id:
                    self.cls[m.cls].id_mismatch += 1
                    r["id_mismatch"] = self.cls[m.cls].id_mismatch
                if m.ack != "delivered":
                    r["not_delivered_but_received"] += 1
            else:
                r["never_received"] += 1
                if m.ack == "delivered":
                    r["delivered_never_received"] += 1
                elif m.ack in ("offline", "failed"):
                    if m.recip_up:
                        r["offline_or_failed_recipient_connected"] += 1
                    else:
                        r["offline_or_failed_recipient_down"] += 1
                r["lost"] += 1
                if len(r["lost_samples"]) < 20:
                    r["lost_samples"].append({"key": m.key, "from": m.sender, "to": m.recipient, "seq": m.seq,
                                              "t_send": round(m.t_send, 3), "ack": m.ack,
                                              "t_ack": m.t_ack and round(m.t_ack, 3),
                                              "recipient_up_at_send": m.recip_up})
        disc = {}
        for u in self.all_users:
            for t_close, code, reason, t_back in u.disconnects:
                d = disc.setdefault(u.node, {"count": 0, "by_close": {}, "down_s": [], "never_back": 0,
                                             "first_close": None, "last_back": None})
                d["count"] += 1
                k = f"{code} {reason}".strip()
                d["by_close"][k] = d["by_close"].get(k, 0) + 1
                if t_back is None:
                    d["never_back"] += 1
                else:
                    d["down_s"].append(t_back - t_close)
                    d["last_back"] = max(d["last_back"] or 0, t_back)
                d["first_close"] = min(d["first_close"] or t_close, t_close)
        for d in disc.values():
            ds = d.pop("down_s")
            d["down_s_median"] = round(statistics.median(ds), 3) if ds else None
            d["down_s_max"] = round(max(ds), 3) if ds else None
        out = {
            "config": {k: v for k, v in vars(self.args).items() if k != "func"},
            "t_ready": self.t_ready, "t_load_end": self.t_load_end, "t_end": self.t_end,
            "users": {"stable": len(self.stable_users), "restarted_node": len(self.all_users) - len(self.stable_users)},
            "classes": res,
            "disconnects_by_node": disc,
            "connect_failures_by_node": merge_failures(self.all_users),
            "churn": self.churn,
            "errors": self.errors, "error_samples": self.error_samples,
            "bad_frames": self.bad_frames, "bad_frame_samples": self.bad_frame_samples,
            "unknown_messages": self.unknown_messages, "unknown_or_duplicate_acks": self.unknown_acks,
            "welcome_violations": self.welcome_violations[:20],
            "welcome_violation_count": len(self.welcome_violations),
            "scheduler_lag_max_s": round(self.sched_lag_max, 3),
        }
        with open(os.path.join(self.args.out, "client.json"), "w") as f:
            json.dump(out, f, indent=1)


def merge_failures(users):
    out = {}
    for u in users:
        d = out.setdefault(u.node, {})
        for k, v in u.connect_failures.items():
            d[k] = d.get(k, 0) + v
    return out


def failure_reason(e):
    if isinstance(e, websockets.exceptions.InvalidStatusCode):
        return f"http {e.status_code}"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, asyncio.TimeoutError):
        return "timeout"
    return type(e).__name__


def cmd_run(args):
    global websockets
    import websockets  # noqa: F401 (Debian's python3-websockets)
    import websockets.exceptions  # noqa: F401
    soak = Soak(args)
    return asyncio.run(soak.main())


# --------------------------------------------------------------------------------------------- report

def load_rss(path):
    """rss.csv lines: t,name,pid,rss_kb,cpu_ticks"""
    rows = []
    with open(path) as f:
        for line in f:
            p = line.strip().split(",")
            if len(p) < 4 or not p[3]:
                continue
            rows.append({"t": float(p[0]), "name": p[1], "pid": int(p[2]), "rss_kb": int(p[3]),
                         "cpu_ticks": int(p[4]) if len(p) > 4 and p[4] else None})
    return rows


def window_median(samples, t0, t1):
    v = [s["rss_kb"] for s in samples if t0 <= s["t"] <= t1]
    return (int(statistics.median(v)), len(v)) if v else (None, 0)


def slope_kb_per_min(samples):
    if len(samples) < 3:
        return None
    ts = [s["t"] for s in samples]
    ys = [s["rss_kb"] for s in samples]
    mt, my = statistics.mean(ts), statistics.mean(ys)
    den = sum((t - mt) ** 2 for t in ts)
    if den == 0:
        return None
    return round(60.0 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den, 1)


def add_cpu(entry, samples, meta):
    ticks = [s["cpu_ticks"] for s in samples if s["cpu_ticks"] is not None]
    if len(ticks) >= 2 and samples[-1]["t"] > samples[0]["t"]:
        hz = meta.get("clk_tck", 100)
        entry["cpu_pct_avg"] = round(100.0 * (ticks[-1] - ticks[0]) / hz / (samples[-1]["t"] - samples[0]["t"]), 1)


def cmd_report(args):
    out = args.out
    with open(os.path.join(out, "client.json")) as f:
        client = json.load(f)
    events = []
    with open(os.path.join(out, "events.jsonl")) as f:
        for line in f:
            if line.strip():
                events.append(json.loads(line))
    ev = {}
    for e in events:
        ev.setdefault(e["event"], []).append(e)
    rss = load_rss(os.path.join(out, "rss.csv"))
    meta = dict(ev.get("meta", [{}])[0])
    meta.update(ev.get("meta_end", [{}])[0])
    meta.pop("event", None)
    meta.pop("t", None)
    restarted = client["config"]["restarted"]
    dur = client["config"]["minutes"] * 60.0
    t_ready, t_load_end = client["t_ready"], client["t_load_end"]
    warm = args.warmup if args.warmup is not None else min(120.0, dur * 0.2)
    win = min(30.0, dur / 10.0)
    tol_pct, tol_kb = args.tolerance_pct, args.tolerance_mb * 1024

    checks = []

    def check(ok, what):
        checks.append({"ok": bool(ok), "check": what})

    # --- restart timeline
    def first(name, key="t"):
        return ev[name][0][key] if name in ev else None
    rs = {}
    if "restart_sigterm" in ev:
        t_term = first("restart_sigterm")
        rs = {"sigterm_at_s": round(t_term - t_ready, 2),
              "old_pid": ev["restart_sigterm"][0].get("pid"),
              "drain_exit_s": round(first("restart_exited") - t_term, 3) if "restart_exited" in ev else None,
              "old_exit_code": first("restart_exited", "rc") if "restart_exited" in ev else None,
              "master_declared_dead_after_s": round(first("restart_master_dead") - t_term, 3)
              if "restart_master_dead" in ev else None,
              "immediate_restart_refused": ev["restart_probe"][0].get("refused") if "restart_probe" in ev else None,
              "new_pid": ev["restart_started"][0].get("pid") if "restart_started" in ev else None,
              "healthy_after_s": round(first("restart_healthy") - t_term, 3) if "restart_healthy" in ev else None}
        d = client["disconnects_by_node"].get(restarted)
        if d and d.get("last_back"):
            rs["restarted_users_all_back_after_s"] = round(d["last_back"] - t_term, 3)
        check(rs.get("old_exit_code") == 0, f"{restarted} exited 0 on SIGTERM at the midpoint")
        check("restart_healthy" in ev, f"{restarted} restarted and healthy again")
    else:
        check(False, "the restart happened")

    # --- RSS
    by_proc = {}
    for s in rss:
        by_proc.setdefault((s["name"], s["pid"]), []).append(s)
    rss_out = []
    new_pid = rs.get("new_pid")
    t_healthy = first("restart_healthy")
    for (name, pid), samples in sorted(by_proc.items(), key=lambda kv: (kv[0][0], kv[1][0]["t"])):
        samples.sort(key=lambda s: s["t"])
        entry = {"process": name, "pid": pid, "samples": len(samples),
                 "start_rss_kb": samples[0]["rss_kb"], "max_rss_kb": max(s["rss_kb"] for s in samples)}
        if name == "client" or (name == restarted and pid != new_pid):
            entry["role"] = "load client (info)" if name == "client" else "before restart (info)"
            before = [s for s in samples if s["t"] >= t_ready + warm]
            entry["last_rss_kb"] = samples[-1]["rss_kb"]
            entry["slope_kb_per_min_after_warmup"] = slope_kb_per_min(before)
            add_cpu(entry, samples, meta)
            rss_out.append(entry)
            continue
        base_t0 = (t_healthy if name == restarted else t_ready) + warm
        base, nb = window_median(samples, base_t0, base_t0 + win)
        end, ne = window_median(samples, t_load_end - win, t_load_end)
        entry.update({"role": "after restart" if name == restarted else "whole run",
                      "baseline_window_s": [round(base_t0 - t_ready, 1), round(base_t0 + win - t_ready, 1)],
                      "end_window_s": [round(t_load_end - win - t_ready, 1), round(t_load_end - t_ready, 1)],
                      "baseline_rss_kb": base, "end_rss_kb": end,
                      "slope_kb_per_min_after_warmup":
                          slope_kb_per_min([s for s in samples if base_t0 <= s["t"] <= t_load_end]),
                      "slope_kb_per_min_last_quarter":
                          slope_kb_per_min([s for s in samples if t_load_end - dur / 4 <= s["t"] <= t_load_end])})
        if base is not None and end is not None and base_t0 + win < t_load_end - win:
            growth = end - base
            allowed = max(base * tol_pct / 100.0, tol_kb)
            entry.update({"growth_kb": growth, "growth_pct": round(100.0 * growth / base, 2),
                          "allowed_kb": int(allowed), "flat": growth <= allowed})
            check(growth <= allowed, f"RSS of {name} (pid {pid}) flat after warm-up: "
                                     f"{base} -> {end} kB ({growth:+d} kB, allowed {int(allowed)})")
        else:
            entry["flat"] = None
            check(False, f"RSS of {name} (pid {pid}): not enough samples for the warm-up/end windows")
        add_cpu(entry, samples, meta)
        rss_out.append(entry)
    for name in ["master"] + [n for n in client["config"]["node"]]:
        nm = name.split("=", 1)[0]
        if not any(e["process"] == nm for e in rss_out):
            check(False, f"RSS of {nm} was sampled")

    # --- messages
    st = client["classes"]["stable"]
    check(st["sent"] > 0, f"stable messages were sent ({st['sent']})")
    check(st["lost"] == 0, f"stable: lost (never received) = {st['lost']}")
    check(st["delivered_never_received"] == 0, f"stable: ack delivered but never received = {st['delivered_never_received']}")
    nd = st["ack_offline"] + st["ack_failed"] + st["ack_other"] + st["no_ack"] + st["no_ack_sender_reconnected"]
    check(nd == 0, f"stable: every send acked delivered (offline {st['ack_offline']}, failed {st['ack_failed']}, "
                   f"no ack {st['no_ack'] + st['no_ack_sender_reconnected']})")
    check(st["duplicates"] == 0, f"stable: duplicates = {st['duplicates']}")
    check(st["out_of_order"] == 0, f"stable: out of order = {st['out_of_order']}")
    check(st["id_mismatch"] == 0, f"stable: ack id = message id (mismatches {st['id_mismatch']})")
    check(st["send_failed_connection_closed"] == 0 and st["skipped_sender_down"] == 0,
          "stable: no stable sender was ever disconnected")
    stable_nodes = [kv.split("=", 1)[0] for kv in client["config"]["node"] if kv.split("=", 1)[0] != restarted]
    unexpected = {n: client["disconnects_by_node"][n] for n in stable_nodes if n in client["disconnects_by_node"]}
    check(not unexpected, f"no disconnects of users on {', '.join(stable_nodes)} ({unexpected or 'none'})")
    cf = {n: client["churn"]["by_node"][n]["failures"] for n in stable_nodes if client["churn"]["by_node"][n]["failures"]}
    check(not cf, f"churn on {', '.join(stable_nodes)}: every connection welcomed and acked ({cf or 'no failures'})")
    check(client["errors"] == {}, f"no error frames ({client['errors'] or 'none'})")
    check(client["bad_frames"] == 0 and client["unknown_messages"] == 0 and client["unknown_or_duplicate_acks"] == 0,
          f"no malformed/unexpected frames (bad {client['bad_frames']}, unknown messages "
          f"{client['unknown_messages']}, unknown acks {client['unknown_or_duplicate_acks']})")
    check(client["welcome_violation_count"] == 0, f"welcome is every session's first frame "
                                                  f"(violations {client['welcome_violation_count']})")
    rd = client["classes"]["restarted"]
    check(rd["duplicates"] == 0, f"restarted-node traffic: duplicates = {rd['duplicates']} (at most once)")

    # --- exits at the end
    for e in ev.get("final_exit", []):
        check(e.get("rc") == 0, f"{e['name']} exited 0 on SIGTERM at the end (rc {e.get('rc')})")

    verdict = "PASS" if all(c["ok"] for c in checks) else "FAIL"
    report = {"verdict": verdict, "meta": meta,
              "duration_s": dur, "warmup_s": warm, "rss_window_s": win,
              "rss_tolerance": {"pct": tol_pct, "mb": args.tolerance_mb},
              "load_end_s": round(t_load_end - t_ready, 1),
              "restart": rs, "rss": rss_out, "checks": checks,
              "messages": client["classes"], "churn": client["churn"],
              "users": client["users"], "disconnects_by_node": client["disconnects_by_node"],
              "connect_failures_by_node": client["connect_failures_by_node"],
              "scheduler_lag_max_s": client["scheduler_lag_max_s"]}
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    text = summary(report, client)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text)
    print(text, end="")
    return 0 if verdict == "PASS" else 1


def summary(r, client):
    L = []
    m = r["meta"]
    L.append(f"wsg soak  {m.get('date', '')}  {m.get('wsg_version', '')}  nproc {m.get('nproc')}  "
             f"RAM {m.get('mem_total_mb')} MB  load avg at start {m.get('loadavg_start')}, at end "
             f"{r['meta'].get('loadavg_end', '?')}")
    c = client["config"]
    L.append(f"duration {r['duration_s']:.0f} s, warm-up {r['warmup_s']:.0f} s; users: "
             f"{client['users']['stable']} stable + {client['users']['restarted_node']} on {c['restarted']}; "
             f"rate {c['rate']} msg/s; churn {c['churn_rate']} conn/s x {c['churn_msgs']} msgs (cap {c['churn_max']})")
    L.append("")
    L.append("messages            sent   deliv  offline failed no-ack  recv-1x  never  dup  ooo  ack p50/p99 ms")
    for cls, s in r["messages"].items():
        lat = s["latency_send_to_ack"]
        L.append(f"  {cls:<14} {s['sent']:>8} {s['ack_delivered']:>7} {s['ack_offline']:>8} {s['ack_failed']:>6} "
                 f"{s['no_ack'] + s['no_ack_sender_reconnected']:>6} {s['received_once']:>8} {s['lost']:>5} "
                 f"{s['duplicates']:>4} {s['out_of_order']:>4}  {lat.get('p50_ms')}/{lat.get('p99_ms')}")
    st = r["messages"]["stable"]
    L.append(f"  stable lost breakdown: delivered-never-received {st['delivered_never_received']}, "
             f"offline/failed with recipient connected {st['offline_or_failed_recipient_connected']}, "
             f"no ack {st['no_ack']}")
    rd = r["messages"]["restarted"]
    L.append(f"  restarted-node traffic (not counted as loss): offline/failed while recipient down "
             f"{rd['offline_or_failed_recipient_down']}, while client saw it connected "
             f"{rd['offline_or_failed_recipient_connected']}, delivered-never-received "
             f"{rd['delivered_never_received']}, sender dropped before ack {rd['no_ack_sender_reconnected']}, "
             f"skipped (sender down) {rd['skipped_sender_down']}")
    ch = r["churn"]
    L.append(f"churn: {ch['attempts']} connections attempted, {ch['welcomed']} welcomed, {ch['completed']} completed; "
             f"max open {ch['open_max']}, skipped at cap {ch['skipped_at_cap']}")
    for n, b in ch["by_node"].items():
        L.append(f"  {n}: {b['attempts']} attempted, {b['completed']} completed, failures {b['failures'] or 'none'}")
    rs = r["restart"]
    L.append(f"restart: {rs}")
    L.append(f"disconnects: {r['disconnects_by_node'] or 'none'}")
    L.append("")
    L.append("RSS (kB)       pid  role                    start  baseline     end  growth  allowed  "
             "kB/min after warm-up, last 1/4  cpu%")
    for e in r["rss"]:
        L.append(f"  {e['process']:<8} {e['pid']:>7}  {e['role']:<22} {e['start_rss_kb']:>6} "
                 f"{str(e.get('baseline_rss_kb', '-')):>8} {str(e.get('end_rss_kb', e.get('last_rss_kb', '-'))):>7} "
                 f"{str(e.get('growth_kb', '-')):>7} {str(e.get('allowed_kb', '-')):>8} "
                 f"{str(e.get('slope_kb_per_min_after_warmup', '-')):>9} "
                 f"{str(e.get('slope_kb_per_min_last_quarter', '-')):>9}  {str(e.get('cpu_pct_avg', '-')):>12}")
    L.append("")
    for ck in r["checks"]:
        L.append(f"  [{'ok' if ck['ok'] else 'FAIL'}] {ck['check']}")
    L.append("")
    L.append(f"VERDICT: {r['verdict']}")
    return "\n".join(L) + "\n"


# ----------------------------------------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser(description="wsg soak load client and report")
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("ports")
    pp.add_argument("n", type=int)
    pp.set_defaults(func=cmd_ports)
    pr = sub.add_parser("run")
    pr.add_argument("--out", required=True)
    pr.add_argument("--node", action="append", required=True, help="ID=ws://HOST:PORT (repeat)")
    pr.add_argument("--restarted", required=True, help="id of the node restarted midway")
    pr.add_argument("--minutes", type=float, default=10)
    pr.add_argument("--rate", type=float, default=300, help="messages/s between stable users, total")
    pr.add_argument("--stable-users", type=int, default=200, help="users on the nodes never restarted")
    pr.add_argument("--restarted-users", type=int, default=40, help="users on the restarted node")
    pr.add_argument("--churn-rate", type=float, default=20, help="churn connections/s")
    pr.add_argument("--churn-msgs", type=int, default=3)
    pr.add_argument("--churn-max", type=int, default=100, help="churn connections open at once, at most")
    pr.add_argument("--pad", type=int, default=64, help="bytes of padding per message body")
    pr.add_argument("--grace", type=float, default=10, help="s to wait for the last acks/messages")
    pr.add_argument("--seed", type=int, default=1)
    pr.set_defaults(func=cmd_run)
    rp = sub.add_parser("report")
    rp.add_argument("--out", required=True)
    rp.add_argument("--warmup", type=float, default=None, help="s (default 120, at most 20%% of the run)")
    rp.add_argument("--tolerance-pct", type=float, default=10)
    rp.add_argument("--tolerance-mb", type=float, default=4)
    rp.set_defaults(func=cmd_report)
    args = p.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
