#!/usr/bin/python3
"""The test driver of tests/netns/run.sh: runs on the client host (namespace wsg-c) of the cluster
scripts/netns-cluster.sh built, speaks the client protocol (docs/protocol.md) to the three nodes,
and cuts and heals links by calling the script. Six scenarios, each ending with a summary line;
(a)-(c) on the one-master cluster (`up`), (d)-(f) on the two-master one (`up --masters 2`):

  (a) delivery between users on all three nodes, every ordered pair of nodes;
  (b) n3 cut from the master (blackholes n3 <-> m1) while the nodes still reach each other;
  (c) the master cut from every host, then healed;
  (d) two masters: delivery between all nodes, and `wsg status --master m1,m2` reports agreement;
  (e) two masters: m2 cut from n3 only (m2 declares n3 dead, m1 does not), then healed;
  (f) two masters: m1 cut from every host (m2 keeps answering), then healed.

Every send carries an id and its body {"ref": id}; the driver accounts for every one: exactly one
ack, `delivered` only if the recipient got it, never received twice, `offline` never received.
Needs Debian's python3-websockets (run with /usr/bin/python3). Exit 0 when every check held."""
import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request

import websockets

args = None
failures = []
T0 = time.monotonic()


def now():
    return time.monotonic()


def log(msg):
    print(f"[{now() - T0:6.2f}s] {msg}", flush=True)


def check(cond, msg):
    if not cond:
        failures.append(msg)
        log("FAIL: " + msg)
    return cond


class Ledger:
    """Every send, its acks and its receptions, keyed by the send's id (ref)."""

    def __init__(self):
        self.sends = {}   # ref -> dict(frm, to, src, dst, t, tag)
        self.acks = {}    # ref -> [(status, reason, t)]
        self.recv = {}    # ref -> [(user, t)]

    def acked(self, refs):
        return all(r in self.acks for r in refs)

    def status(self, ref):
        a = self.acks.get(ref)
        return a[0][0] if a else None


L = Ledger()


class Client:
    def __init__(self, user, node):
        self.user, self.node = user, node
        self.url = f"ws://{args.subnet}.1{node[-1]}:8080/ws?user={user}"
        self.ws = None
        self.closed_at = None
        self.close_info = None
        self.reader = None
        self.counter = 0

    async def connect(self):
        self.ws = await websockets.connect(self.url, open_timeout=5, ping_interval=None,
                                           max_queue=None, close_timeout=1)
        first = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
        if first.get("type") != "welcome" or first.get("node") != f"node-{self.node[-1]}":
            raise RuntimeError(f"{self.user}: expected a welcome from node-{self.node[-1]}, got {first}")
        self.reader = asyncio.create_task(self.read())

    async def read(self):
        try:
            async for raw in self.ws:
                f = json.loads(raw)
                t = f.get("type")
                if t == "ack":
                    L.acks.setdefault(f["ref"], []).append((f.get("status"), f.get("reason"), now()))
                elif t == "message":
                    body = f.get("body") or {}
                    ref = body.get("ref") if isinstance(body, dict) else None
                    if ref is None:
                        continue
                    if f.get("to") not in (None, self.user):
                        check(False, f"{self.user} got a message addressed to {f.get('to')}")
                    L.recv.setdefault(ref, []).append((self.user, now()))
                elif t == "error":
                    check(False, f"{self.user} got an error frame: {f}")
        except websockets.ConnectionClosed as e:
            self.close_info = f"{e.code} {e.reason}"
        finally:
            self.closed_at = now()

    async def send(self, to, tag):
        self.counter += 1
        ref = f"{self.user}-{self.counter}"
        L.sends[ref] = dict(frm=self.user, to=to.user, src=self.node, dst=to.node, t=now(), tag=tag)
        await self.ws.send(json.dumps({"type": "send", "to": to.user, "body": {"ref": ref}, "id": ref}))
        return ref

    async def close(self):
        if self.ws is not None:
            await self.ws.close()


def netns(*a):
    t = now()
    r = subprocess.run(["bash", args.script] + list(a), capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"netns-cluster.sh {' '.join(a)} failed: {r.stderr.strip()}")
    log(f"netns-cluster.sh {' '.join(a)} ({(now() - t) * 1000:.0f} ms)")
    return now()


def healthz(node):
    try:
        with urllib.request.urlopen(f"http://{args.subnet}.1{node[-1]}:8080/healthz", timeout=1) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return None


async def wait_until(pred, timeout, step=0.02):
    deadline = now() + timeout
    while now() < deadline:
        if pred():
            return True
        await asyncio.sleep(step)
    return pred()


async def settle(refs, timeout):
    """Waits (bounded) until every ref has an ack and every delivered one was received."""
    def done():
        for r in refs:
            if r not in L.acks:
                return False
            if L.acks[r][0][0] == "delivered" and r not in L.recv:
                return False
        return True
    await wait_until(done, timeout)
    await asyncio.sleep(0.3)  # a late duplicate ack or reception would show up here


def account(refs, name):
    """The checks that hold for every send whatever the scenario. Returns status counts."""
    counts = {}
    for r in refs:
        s = L.sends[r]
        acks = L.acks.get(r, [])
        recv = L.recv.get(r, [])
        st = acks[0][0] if acks else "none"
        counts[st] = counts.get(st, 0) + 1
        what = f"{name}: {r} ({s['src']}->{s['dst']}, {s['tag']})"
        check(len(acks) == 1, f"{what}: {len(acks)} acks {acks}")
        check(len(recv) <= 1, f"{what}: received {len(recv)} times")
        if recv:
            check(recv[0][0] == s["to"], f"{what}: received by {recv[0][0]}, not {s['to']}")
        if st == "delivered":
            check(len(recv) == 1, f"{what}: acked delivered, never received")
        if st == "offline":
            check(not recv, f"{what}: acked offline but received")
        if st == "failed" and acks[0][1] in ("master_unreachable", "peer_unreachable", "overloaded", "moved"):
            # protocol.md: a failed ack with these reasons was not delivered
            check(not recv, f"{what}: acked failed/{acks[0][1]} but received")
    return counts


def breakdown(refs):
    """status/reason counts of refs' first acks."""
    out = {}
    for r in refs:
        a = L.acks.get(r)
        key = (a[0][0] + (f"/{a[0][1]}" if a[0][1] else "")) if a else "none"
        out[key] = out.get(key, 0) + 1
    return out


def fmt(counts):
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items()))


async def connect_all(spec):
    cs = {u: Client(u, n) for u, n in spec}
    await asyncio.gather(*(c.connect() for c in cs.values()))
    return cs


def pairs(users):
    return [(a, b) for a in users for b in users if a != b]


# ---- (a) -------------------------------------------------------------------------------------
async def scenario_a():
    t = now()
    cs = await connect_all([("a1", "n1"), ("a2", "n2"), ("a3", "n3")])
    refs = []
    for _ in range(args.burst):
        for a, b in pairs(["a1", "a2", "a3"]):
            refs.append(await cs[a].send(cs[b], "a"))
    await settle(refs, 10)
    counts = account(refs, "(a)")
    check(counts.get("delivered", 0) == len(refs), f"(a): not all delivered: {fmt(counts)}")
    for c in cs.values():
        await c.close()
    print(f"SUMMARY (a) delivery between all nodes: {len(refs)} sends over 6 node pairs, {fmt(counts)}, "
          f"received {sum(1 for r in refs if r in L.recv)}, in {now() - t:.1f} s", flush=True)


# ---- traffic -----------------------------------------------------------------------------------
async def traffic(cs, plist, tag_of, stop, period):
    """One send per ordered pair every period until stop() is true; returns the refs."""
    refs = []
    nxt = now()
    while not stop():
        for a, b in plist:
            refs.append(await cs[a].send(cs[b], tag_of()))
        nxt += period
        await asyncio.sleep(max(0.0, nxt - now()))
    return refs


def first_time_all_ok(refs, after, pred):
    """The earliest send time t >= after such that every send from t on satisfies pred."""
    good = None
    for r in sorted(refs, key=lambda r: L.sends[r]["t"]):
        if L.sends[r]["t"] < after:
            continue
        if pred(r):
            if good is None:
                good = L.sends[r]["t"]
        else:
            good = None
    return good


# ---- (b) -------------------------------------------------------------------------------------
async def scenario_b():
    t_start = now()
    users = ["b1", "b2", "b3"]
    cs = await connect_all([("b1", "n1"), ("b2", "n2"), ("b3", "n3")])
    warm = [await cs[a].send(cs[b], "warm") for a, b in pairs(users)]
    await settle(warm, 5)
    wc = account(warm, "(b) warm-up")
    check(wc.get("delivered", 0) == len(warm), f"(b) warm-up not all delivered: {fmt(wc)}")

    phase = {"v": "before"}
    marks = {}
    stop = {"v": False}

    async def control():
        await asyncio.sleep(1.0)
        marks["cut_start"] = now()
        marks["cut"] = await asyncio.to_thread(netns, "partition", "n3", "m1")
        phase["v"] = "cut"
        health = []
        end = marks["cut"] + args.cut_seconds
        while now() < end:
            health.append((now() - marks["cut"], await asyncio.to_thread(healthz, "n3"),
                           await asyncio.to_thread(healthz, "n1")))
            await asyncio.sleep(0.25)
        marks["health_cut"] = health
        marks["heal_start"] = now()
        marks["heal"] = await asyncio.to_thread(netns, "heal", "n3", "m1")
        phase["v"] = "healed"
        health = []
        marks["n3_healthy"] = None
        deadline = now() + 10
        while now() < deadline:
            if await asyncio.to_thread(healthz, "n3") == 200:
                marks["n3_healthy"] = now()
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(args.after_heal_seconds)
        stop["v"] = True

    ctl = asyncio.create_task(control())
    refs = await traffic(cs, pairs(users), lambda: phase["v"], lambda: stop["v"], args.period)
    await ctl
    await settle(refs, 4)
    counts = account(refs, "(b)")
    cut, heal = marks["cut"], marks["heal"]

    def sel(pred):
        return [r for r in refs if pred(L.sends[r])]

    n12 = sel(lambda s: {s["src"], s["dst"]} == {"n1", "n2"})
    c12 = {}
    for r in n12:
        c12[L.status(r)] = c12.get(L.status(r), 0) + 1
    check(c12.get("delivered", 0) == len(n12), f"(b): n1<->n2 not all delivered: {fmt(c12)}")

    # n3 is declared dead master.node_timeout_ms (3 s) after its last heartbeat reached the
    # master (sent up to heartbeat_ms = 1 s before the cut), + up to 100 ms for the master's tick:
    # between cut + 2.0 s and cut + 3.1 s. NODE_DOWN then makes n1 and n2 drop their routes to n3,
    # and the master lists no node for n3's user: sends to it are acked `offline`.
    hs = marks["heal_start"]
    to3 = sel(lambda s: s["dst"] == "n3" and cut <= s["t"] < hs)
    off = [L.sends[r]["t"] for r in to3 if L.status(r) == "offline"]
    t_dead = min(off) if off else None
    check(t_dead is not None and t_dead - marks["cut_start"] >= 1.9 and t_dead - cut <= 4.0,
          f"(b): first offline ack to n3's user at cut+{None if t_dead is None else round(t_dead - cut, 2)} s, "
          f"expected between 2.0 and 3.1 s (+ margins) (the cut took {cut - marks['cut_start']:.2f} s)")
    t_dead = t_dead if t_dead is not None else hs
    to3_dead = [r for r in to3 if L.sends[r]["t"] >= t_dead + 0.2]
    st_to3 = breakdown(to3_dead)
    check(to3_dead and st_to3.get("offline", 0) == len(to3_dead),
          f"(b): sends to n3's user once it is declared dead should be acked offline: {fmt(st_to3)}")
    from3_dead = sel(lambda s: s["src"] == "n3" and t_dead + 0.2 <= s["t"] < hs)
    st_from3 = breakdown(from3_dead)
    rcv_from3 = sum(1 for r in from3_dead if r in L.recv)
    # Before that, n1 and n2 still route to n3 (cached), and n3 to them.
    to3_alive = [r for r in to3 if L.sends[r]["t"] < t_dead - 0.2 and L.sends[r]["t"] < cut + 1.8]
    from3_alive = sel(lambda s: s["src"] == "n3" and cut <= s["t"] < min(t_dead - 0.2, cut + 1.8))
    st_bd = breakdown(to3_alive)
    st_bd3 = breakdown(from3_alive)
    check(st_bd.get("delivered", 0) == len(to3_alive),
          f"(b): sends to n3's user before it was declared dead not all delivered: {fmt(st_bd)}")

    # After the heal: n3 hears from the master at its next heartbeat (known = false), HELLOs again
    # and replays its sessions; from then on its user is reachable again.
    to3_back = first_time_all_ok(sel(lambda s: s["dst"] == "n3"), heal, lambda r: L.status(r) == "delivered")
    from3_back = first_time_all_ok(sel(lambda s: s["src"] == "n3"), heal, lambda r: L.status(r) == "delivered")
    check(to3_back is not None and to3_back - heal <= args.recover_bound,
          f"(b): sends to n3's user not delivered again within {args.recover_bound} s of the heal")
    check(from3_back is not None and from3_back - heal <= args.recover_bound,
          f"(b): sends from n3's user not delivered again within {args.recover_bound} s of the heal")
    for u in users:
        check(cs[u].closed_at is None, f"(b): {u}'s connection closed ({cs[u].close_info})")
    h = marks["health_cut"]
    first503 = next((t for t, s3, _ in h if s3 == 503), None)
    check(all(s1 == 200 for _, _, s1 in h), "(b): n1's /healthz was not 200 throughout the cut")
    check(first503 is not None, "(b): n3's /healthz never answered 503 while cut from the master")
    for c in cs.values():
        await c.close()
    n3h = marks["n3_healthy"]
    print(f"  (b) first 1.8 s of the cut (n3 not yet declared dead): to n3's user {fmt(st_bd)}; "
          f"from n3's user {fmt(st_bd3)}", flush=True)
    print(f"  (b) n3 declared dead ({args.cut_seconds:.1f} s cut; first offline ack for a send at cut+{t_dead - cut:.2f} s): "
          f"to n3's user: {fmt(st_to3)}; from n3's user: {fmt(st_from3)}, received {rcv_from3}/{len(from3_dead)}",
          flush=True)
    print(f"  (b) n3 /healthz 503 from cut+{first503 if first503 is None else round(first503, 2)} s, "
          f"200 again heal+{None if n3h is None else round(n3h - heal, 2)} s; delivered again to n3 from "
          f"heal+{None if to3_back is None else round(to3_back - heal, 2)} s, from n3 from "
          f"heal+{None if from3_back is None else round(from3_back - heal, 2)} s; clients stayed connected",
          flush=True)
    print("  (b) so: while n3 is declared dead its connected users are unreachable (sends to them acked "
          "offline), and what they send arrives but is acked failed (n1/n2 drop receipts to a node the "
          "master no longer names); they stay connected and are reachable again one heartbeat after the heal",
          flush=True)
    print(f"SUMMARY (b) n3 cut from the master: {len(refs)} sends ({fmt(counts)}), n1<->n2 {len(n12)} "
          f"all delivered={c12.get('delivered', 0) == len(n12)}, received {sum(1 for r in refs if r in L.recv)}, "
          f"none twice, in {now() - t_start:.1f} s",
          flush=True)


# ---- (c) -------------------------------------------------------------------------------------
async def scenario_c():
    t_start = now()
    users = ["c1", "c2", "c3"]
    cs = await connect_all([("c1", "n1"), ("c2", "n2"), ("c3", "n3"),
                            ("x1", "n1"), ("x2", "n2"), ("x3", "n3")])
    warm = [await cs[a].send(cs[b], "warm") for a, b in pairs(users)]
    await settle(warm, 5)
    wc = account(warm, "(c) warm-up")
    check(wc.get("delivered", 0) == len(warm), f"(c) warm-up not all delivered: {fmt(wc)}")

    phase = {"v": "before"}
    marks = {}
    stop = {"v": False}
    probes = []  # sends to users no node has looked up: x2 from n1, x3 from n2, x1 from n3
    probe_pairs = [("c1", "x2"), ("c2", "x3"), ("c3", "x1")]

    async def control():
        await asyncio.sleep(0.5)
        marks["cut"] = await asyncio.to_thread(netns, "partition", "m1", "all")
        phase["v"] = "cut"
        health = []
        end = marks["cut"] + args.cut_seconds
        nxt = now()
        while now() < end:
            for a, b in probe_pairs:
                probes.append(await cs[a].send(cs[b], "probe-cut"))
            health.append((now() - marks["cut"], await asyncio.to_thread(healthz, "n1")))
            nxt += 0.5
            await asyncio.sleep(max(0.0, min(nxt, end) - now()))
        marks["health_cut"] = health
        marks["heal_start"] = now()
        marks["heal"] = await asyncio.to_thread(netns, "heal", "m1", "all")
        phase["v"] = "healed"
        end = marks["heal"] + args.after_heal_seconds
        while now() < end:
            for a, b in probe_pairs:
                probes.append(await cs[a].send(cs[b], "probe-healed"))
            await asyncio.sleep(0.25)
        stop["v"] = True

    ctl = asyncio.create_task(control())
    refs = await traffic(cs, pairs(users), lambda: phase["v"], lambda: stop["v"], args.period)
    await ctl
    await settle(refs + probes, 4)
    counts = account(refs, "(c)")
    pcounts = account(probes, "(c) probes")
    cut, heal, hs = marks["cut"], marks["heal"], marks["heal_start"]

    during = [r for r in refs if cut <= L.sends[r]["t"] < hs]
    dc = {}
    for r in during:
        dc[L.status(r)] = dc.get(L.status(r), 0) + 1
    check(dc.get("delivered", 0) == len(during), f"(c): cached routes during the cut not all delivered: {fmt(dc)}")

    pd = [r for r in probes if L.sends[r]["tag"] == "probe-cut"]
    pdc = breakdown(pd)
    check(all(L.status(r) == "failed" for r in pd), f"(c): uncached lookups during the cut not all failed: {pdc}")
    # Once a node has heard nothing from the master for 3 x heartbeat_ms (3 s) + a heartbeat, they
    # fail at once with master_unreachable.
    late = [r for r in pd if L.sends[r]["t"] >= cut + 4.5]
    lat = [L.acks[r][0][2] - L.sends[r]["t"] for r in late if r in L.acks]
    check(late and all(L.acks[r][0][1] == "master_unreachable" for r in late if r in L.acks),
          "(c): uncached lookups 4.5 s into the cut not failed with master_unreachable")
    check(lat and max(lat) < 0.5, f"(c): late uncached lookups not answered at once (max {max(lat or [0]):.3f} s)")
    first503 = next((t for t, s in marks["health_cut"] if s == 503), None)
    check(first503 is not None, "(c): n1's /healthz never answered 503 while the master was cut")

    # The master declared every node dead while cut (it heard nothing for node_timeout_ms) and
    # dropped their sessions; each node learns it at its first heartbeat after the heal
    # (known = false), HELLOs again and replays its sessions. Until then lookups may fail (the
    # node still counts the master as lost) but are never answered `offline` (checked below).
    after = [r for r in refs + probes if L.sends[r]["t"] >= hs]
    back = first_time_all_ok(after, hs, lambda r: L.status(r) == "delivered")
    check(back is not None and back - heal <= args.recover_bound,
          f"(c): not everything delivered again within {args.recover_bound} s of the heal")
    ac = breakdown([r for r in after if back is None or L.sends[r]["t"] < back])
    # Every recipient stayed connected: an `offline` ack would be a lie. The master reopens its
    # recovery window when a node it declared dead speaks again, so lookups of users whose node
    # has not replayed yet wait for the replay instead of being answered "no node".
    offl = [r for r in refs + probes if L.status(r) == "offline"]
    check(not offl, f"(c): {len(offl)} sends to connected users acked offline: {breakdown(offl)}")
    for u in cs:
        check(cs[u].closed_at is None, f"(c): {u}'s connection closed ({cs[u].close_info})")
    for c in cs.values():
        await c.close()
    print(f"  (c) during the {args.cut_seconds:.1f} s cut: cached routes {fmt(dc)}; uncached lookups {pdc}, "
          f"after cut+4.5 s answered within {max(lat or [0]) * 1000:.0f} ms; n1 /healthz 503 from "
          f"cut+{None if first503 is None else round(first503, 2)} s", flush=True)
    print(f"  (c) after the heal: everything delivered for sends from {None if back is None else round(back - hs, 2)} s "
          f"after the heal began (removing the 10 blackhole routes took {heal - hs:.2f} s); before that: {ac or 'nothing else'}", flush=True)
    print(f"SUMMARY (c) master cut from all: {len(refs)} cached-route sends ({fmt(counts)}), {len(probes)} "
          f"uncached ({fmt(pcounts)}), in {now() - t_start:.1f} s", flush=True)


# ---- two masters: (d) (e) (f) ----------------------------------------------------------------
# The cluster of `netns-cluster.sh up --masters 2`: a master on m1 and one on m2, every node with
# cluster.master = "tcp://m1:5555,tcp://m2:5555" (it registers with both; reads go to one, asked
# again of the other after min(delivery_timeout_ms / 4, 500 ms) = 500 ms, and an empty answer is
# confirmed by the other before a node acts on it).

def wsg_status(timeout_ms=1000):
    """`wsg status --json` asking both masters (from this host, which reaches both): (doc, stderr)."""
    try:
        r = subprocess.run(["bash", args.script, "wsg-status", "--json", "--timeout-ms", str(timeout_ms)],
                           capture_output=True, text=True, timeout=timeout_ms / 1000 + 10)
    except subprocess.TimeoutExpired:
        return None, "wsg status did not return"
    if r.returncode != 0:
        return None, r.stderr.strip()
    try:
        return json.loads(r.stdout), r.stderr.strip()
    except ValueError:
        return None, f"unreadable output: {r.stdout[:200]!r}"


def masters_view(doc):
    """A short account of each master's answer: address -> (answered, sorted node ids, sessions)."""
    if doc is None:
        return "no answer"
    parts = []
    for m in doc.get("masters", []):
        host = m.get("address", "?").split("//")[-1].split(":")[0]
        if not m.get("answered"):
            parts.append(f"{host}: no answer")
        else:
            parts.append(f"{host}: nodes {','.join(m.get('node_ids', []))} sessions {m.get('sessions')}")
    return "; ".join(parts) + f"; masters_agree={doc.get('masters_agree')}"


async def wait_agree(timeout, expect_nodes=3):
    """Polls wsg status until both masters answer, agree and list expect_nodes nodes: the time it
    took (None at the deadline) and the last answer."""
    t = now()
    doc = None
    while True:
        doc, _ = await asyncio.to_thread(wsg_status, 1000)
        if doc is not None and doc.get("masters_agree") is True and len(doc.get("masters", [])) == 2 \
                and all(m.get("answered") and m.get("nodes") == expect_nodes for m in doc["masters"]):
            return now() - t, doc
        if now() - t >= timeout:
            return None, doc
        await asyncio.sleep(0.2)


def state_dir():
    import os
    try:
        with open(os.path.join(os.environ.get("TMPDIR", "/tmp"),
                               os.environ.get("WSG_NETNS_PREFIX", "wsg-") + "netns-cluster.state")) as f:
            return f.read().strip()
    except OSError:
        return None


def log_lines(names, words, limit=12):
    """The last `limit` lines of the cluster's logs `names` (e.g. node-3, master-m2) that contain
    one of `words` (case-insensitive), prefixed with the log's name: for failure messages."""
    import os
    d = state_dir()
    out = []
    for n in names:
        try:
            with open(os.path.join(d or "", f"{n}.log"), errors="replace") as f:
                hits = [ln.rstrip() for ln in f if any(w in ln.lower() for w in words)]
        except OSError:
            continue
        out += [f"      {n}: {ln}" for ln in hits[-limit:]]
    return "\n".join(out)


def log_times(name, text):
    """The times (on this driver's clock, now()) of the lines of log `name` that contain `text`."""
    import datetime
    import os
    offset = time.time() - time.monotonic()
    out = []
    try:
        with open(os.path.join(state_dir() or "", f"{name}.log"), errors="replace") as f:
            for ln in f:
                if text in ln and ln.startswith("["):
                    wall = datetime.datetime.strptime(ln[1:24], "%Y-%m-%d %H:%M:%S.%f").timestamp()
                    out.append(wall - offset)
    except (OSError, ValueError):
        pass
    return out


def latencies(refs, marks):
    """Ack latencies of refs per phase: 'cut<3s' / 'cut>=3s' split at 3 s into the cut (when a
    silent master stops counting as reachable: 3 x heartbeat_ms), as 'n=.. median .. max .. >=450ms: ..'."""
    groups = {}
    for r in refs:
        s = L.sends[r]
        a = L.acks.get(r)
        if not a:
            continue
        tag = s["tag"]
        if tag.endswith("-cut"):
            tag += "<3s" if s["t"] < marks["cut"] + 3.0 else ">=3s"
        groups.setdefault(tag, []).append((a[0][2] - s["t"]) * 1000)
    parts = []
    for tag, v in sorted(groups.items()):
        v.sort()
        parts.append(f"{tag} n={len(v)} median {v[len(v) // 2]:.0f} ms max {v[-1]:.0f} ms "
                     f"(>= 450 ms: {sum(1 for x in v if x >= 450)})")
    return "; ".join(parts)


def describe(refs, marks, limit=15):
    """One line per send (the first `limit`): what was sent when, and what came back."""
    rows = []
    base = marks.get("cut", T0)
    for r in sorted(refs, key=lambda r: L.sends[r]["t"])[:limit]:
        s = L.sends[r]
        a = L.acks.get(r)
        ack = f"{a[0][0]}/{a[0][1]} after {(a[0][2] - s['t']) * 1000:.0f} ms" if a else "no ack"
        rcv = L.recv.get(r)
        rows.append(f"      {r} {s['src']}->{s['dst']} {s['tag']} sent at cut{s['t'] - base:+.2f} s: {ack}, "
                    f"{'received' if rcv else 'not received'}")
    more = f"\n      ... and {len(refs) - limit} more" if len(refs) > limit else ""
    return "\n".join(rows) + more


class Probes:
    """Sends to connected users the sending node has not looked up yet (so each is a read at a
    master): a pool of K users per node; node k's sender takes the next pool user of another node."""

    def __init__(self, cs, senders, pool):
        self.cs, self.senders = cs, senders
        self.fresh = {}
        for k, sender in senders.items():
            others = [[u for u in pool if pool[u] == n] for n in ("n1", "n2", "n3") if n != k]
            self.fresh[k] = [u for pair in zip(*others) for u in pair]  # alternating between the two
        self.refs = []

    async def round(self, tag):
        for k, sender in self.senders.items():
            if self.fresh[k]:
                self.refs.append(await self.cs[sender].send(self.cs[self.fresh[k].pop(0)], tag))


async def connect_with_pool(prefix, k_pool):
    spec = [(f"{prefix}{i}", f"n{i}") for i in (1, 2, 3)]
    pool = {f"{prefix}p{i}-{j}": f"n{i}" for i in (1, 2, 3) for j in range(k_pool)}
    cs = await connect_all(spec + list(pool.items()))
    return cs, [u for u, _ in spec], pool


async def scenario_d():
    t = now()
    cs = await connect_all([("d1", "n1"), ("d2", "n2"), ("d3", "n3")])
    refs = []
    for _ in range(args.burst):
        for a, b in pairs(["d1", "d2", "d3"]):
            refs.append(await cs[a].send(cs[b], "d"))
    await settle(refs, 10)
    counts = account(refs, "(d)")
    bad = [r for r in refs if L.status(r) != "delivered"]
    check(not bad, f"(d): not all delivered with both masters up: {fmt(counts)}\n{describe(bad, {})}")
    took, doc = await wait_agree(args.agree_bound)
    check(took is not None, f"(d): wsg status --master m1,m2 did not report masters_agree: true with 3 nodes each "
                            f"within {args.agree_bound} s: {masters_view(doc)}")
    sessions = [m.get("sessions") for m in (doc or {}).get("masters", [])]
    for c in cs.values():
        await c.close()
    print(f"  (d) wsg status --master m1,m2 --json: {masters_view(doc)} "
          f"(agreement seen {None if took is None else round(took, 2)} s after the burst settled)", flush=True)
    print(f"SUMMARY (d) two masters, delivery between all nodes: {len(refs)} sends over 6 node pairs, {fmt(counts)}, "
          f"received {sum(1 for r in refs if r in L.recv)}; masters agree (sessions {sessions}), in {now() - t:.1f} s",
          flush=True)


async def cut_run(name, users, cs, probes, cut_args, heal_args, cut_seconds, health_nodes, status_every):
    """Steady traffic between `users` (one send per ordered pair every args.period s) and a probe
    round every 0.25 s, while the control task cuts (partition cut_args), holds the cut for
    cut_seconds (sampling the /healthz of health_nodes and, every status_every s, wsg status),
    heals (heal heal_args) and keeps the traffic going for args.after_heal_seconds."""
    phase = {"v": "before"}
    marks = {"health": [], "status": []}
    stop = {"v": False}

    async def prober():
        while not stop["v"]:
            if phase["v"] != "before":
                await probes.round("probe-" + phase["v"])
            await asyncio.sleep(0.25)

    async def sampler():
        while not stop["v"]:
            if phase["v"] == "cut":
                hs = [(n, await asyncio.to_thread(healthz, n)) for n in health_nodes]
                marks["health"].append((now(), hs))
            await asyncio.sleep(0.25)

    async def status_poller():
        nxt = None
        while not stop["v"]:
            if phase["v"] == "cut":
                nxt = nxt or now() + 1.0
                if now() >= nxt:
                    doc, _ = await asyncio.to_thread(wsg_status, 700)
                    marks["status"].append((now(), doc))
                    nxt = now() + status_every
            await asyncio.sleep(0.1)

    async def control():
        await asyncio.sleep(0.7)
        marks["cut_start"] = now()
        marks["cut"] = await asyncio.to_thread(netns, "partition", *cut_args)
        phase["v"] = "cut"
        await asyncio.sleep(max(0.0, marks["cut"] + cut_seconds - now()))
        marks["heal_start"] = now()
        marks["heal"] = await asyncio.to_thread(netns, "heal", *heal_args)
        phase["v"] = "healed"
        took, doc = await wait_agree(args.agree_bound)
        marks["agree"] = (took, doc, now())
        await asyncio.sleep(max(0.0, marks["heal"] + args.after_heal_seconds - now()))
        stop["v"] = True

    tasks = [asyncio.create_task(f()) for f in (control, prober, sampler, status_poller)]
    refs = await traffic(cs, pairs(users), lambda: phase["v"], lambda: stop["v"], args.period)
    await asyncio.gather(*tasks)
    await settle(refs + probes.refs, 4)
    return refs, marks


def phase_table(refs):
    """status counts per phase tag ("cut" / "healed" / "probe-cut" ...)."""
    out = {}
    for r in refs:
        out.setdefault(L.sends[r]["tag"], []).append(r)
    return "; ".join(f"{tag}: {fmt(breakdown(rs))}" for tag, rs in sorted(out.items()))


async def scenario_e():
    t_start = now()
    cs, users, pool = await connect_with_pool("e", args.pool)
    warm = [await cs[a].send(cs[b], "warm") for a, b in pairs(users)]
    await settle(warm, 5)
    wc = account(warm, "(e) warm-up")
    check(wc.get("delivered", 0) == len(warm), f"(e) warm-up not all delivered: {fmt(wc)}")
    probes = Probes(cs, {"n1": "e1", "n2": "e2", "n3": "e3"}, pool)
    refs, marks = await cut_run("e", users, cs, probes, ("n3", "m2"), ("n3", "m2"), args.cut2_seconds,
                                ["n3", "n1"], 0.5)
    allr = refs + probes.refs
    counts = account(refs, "(e)")
    pcounts = account(probes.refs, "(e) probes")
    cut, heal, hs = marks["cut"], marks["heal"], marks["heal_start"]
    # Did m2 declare n3 dead (the scenario's premise)? wsg status still lists node-3 at m2 (alive
    # false), but without its sessions: m2's count drops by the sessions on n3, m1's does not.
    on3 = sum(1 for c in cs.values() if c.node == "n3")
    gone = [(ts, doc) for ts, doc in marks["status"]
            if doc and len(doc.get("masters", [])) == 2 and all(m.get("answered") for m in doc["masters"])
            and doc["masters"][1].get("sessions") == doc["masters"][0].get("sessions") - on3]
    t_gone = gone[0][0] - cut if gone else None
    check(gone, f"(e): wsg status never showed m2 without n3's {on3} sessions during the cut (m2 did not declare "
                "n3 dead?): " + " | ".join(f"cut+{ts - cut:.1f} s {masters_view(doc)}" for ts, doc in marks["status"]))
    dead_m2 = [x - cut for x in log_times("master-m2", "node node-3 declared dead") if x >= cut]
    dead_m1 = [x - cut for x in log_times("master-m1", "node node-3 declared dead") if x >= cut]
    down_n = {n: [x - cut for x in log_times(n, "node node-3 is down") if x >= cut] for n in ("node-1", "node-2")}
    check(not dead_m1, f"(e): m1 declared node-3 dead at cut+{dead_m1} s though only m2 was cut from it")
    offl = [r for r in allr if L.status(r) == "offline"]
    check(not offl, f"(e): {len(offl)} sends to connected users acked offline (m1 still lists every node):\n"
                    f"{describe(offl, marks)}\n"
                    + log_lines(["node-1", "node-2", "node-3", "master-m1", "master-m2"],
                                ["down", "dead", "offline", "warn", "error"]))
    failed = [r for r in allr if L.status(r) == "failed"]
    check(not failed, f"(e): {len(failed)} sends acked failed though every recipient was connected and m1 "
                      f"reached every node ({breakdown(failed)}):\n{describe(failed, marks)}\n"
                      + log_lines(["node-1", "node-2", "node-3", "master-m2"],
                                  ["down", "dead", "unverified", "warn", "error"]))
    bad_h = [(ts - cut, hs_) for ts, hs_ in marks["health"] if any(s != 200 for _, s in hs_)]
    check(not bad_h, f"(e): /healthz not 200 during the cut: "
                     + ", ".join(f"cut+{d:.2f} s {h}" for d, h in bad_h[:10]))
    took, doc, _ = marks["agree"]
    check(took is not None, f"(e): masters_agree not true again within {args.agree_bound} s of the heal: "
                            f"{masters_view(doc)}")
    for u in cs:
        check(cs[u].closed_at is None, f"(e): {u}'s connection closed ({cs[u].close_info})")
    for c in cs.values():
        await c.close()
    print(f"  (e) m2 declared node-3 dead at cut+{', '.join(f'{x:.2f}' for x in dead_m2) or '?'} s (its log), "
          f"node-1/node-2 logged its NODE_DOWN at cut+{'/'.join(', '.join(f'{x:.2f}' for x in v) or '?' for v in down_n.values())} s; "
          f"wsg status: m2 without n3's {on3} sessions from cut+{None if t_gone is None else round(t_gone, 2)} s "
          f"(polled every 0.5 s from cut+1 s), m1 kept them; n3 and n1 /healthz "
          f"{'200 throughout' if not bad_h else 'NOT 200: ' + str(bad_h[:3])} ({len(marks['health'])} samples)",
          flush=True)
    print(f"  (e) by phase: {phase_table(allr)}", flush=True)
    print(f"  (e) uncached sends, ack latency: {latencies(probes.refs, marks)}", flush=True)
    print(f"  (e) after the heal: masters_agree true {None if took is None else round(took, 2)} s after the "
          f"heal ({masters_view(doc)})", flush=True)
    print(f"SUMMARY (e) m2 cut from n3 for {args.cut2_seconds:.1f} s: {len(refs)} sends ({fmt(counts)}), "
          f"{len(probes.refs)} uncached ({fmt(pcounts)}), received {sum(1 for r in allr if r in L.recv)}, "
          f"none twice, in {now() - t_start:.1f} s", flush=True)


async def scenario_f():
    t_start = now()
    cs, users, pool = await connect_with_pool("f", args.pool)
    warm = [await cs[a].send(cs[b], "warm") for a, b in pairs(users)]
    await settle(warm, 5)
    wc = account(warm, "(f) warm-up")
    check(wc.get("delivered", 0) == len(warm), f"(f) warm-up not all delivered: {fmt(wc)}")
    probes = Probes(cs, {"n1": "f1", "n2": "f2", "n3": "f3"}, pool)
    refs, marks = await cut_run("f", users, cs, probes, ("m1", "all"), ("m1", "all"), args.cut2_seconds,
                                ["n1", "n2", "n3"], 2.0)
    allr = refs + probes.refs
    counts = account(refs, "(f)")
    pcounts = account(probes.refs, "(f) probes")
    cut, heal = marks["cut"], marks["heal"]
    bad = [r for r in allr if L.status(r) in ("failed", "offline", None)]
    check(not bad, f"(f): {len(bad)} sends to connected users not delivered while m2 answered "
                   f"({breakdown(bad)}; reads are asked again of m2 after 500 ms, delivery_timeout_ms is 2000):\n"
                   f"{describe(bad, marks)}\n"
                   + log_lines(["node-1", "node-2", "node-3", "master-m2"],
                               ["down", "dead", "unreachable", "lost", "warn", "error"]))
    # m1 declares every node dead node_timeout_ms into the cut (nobody hears it), and each is back
    # (re-HELLO, replay) at its first heartbeat after the heal.
    dead_m1 = sorted(x - cut for x in log_times("master-m1", "declared dead (") if x >= cut)
    back_m1 = sorted(x - heal for x in log_times("master-m1", "is back") if x >= heal - 0.5)
    down_n = sum(1 for n in ("node-1", "node-2", "node-3") for x in log_times(n, " is down") if x >= cut)
    check(not log_times("master-m2", "declared dead (") or
          all(x < cut for x in log_times("master-m2", "declared dead (")),
          "(f): m2 declared a node dead while only m1 was cut")
    st = [(ts - cut, doc) for ts, doc in marks["status"]]
    m1_silent = [d for d, doc in st if doc and not doc["masters"][0].get("answered")
                 and doc["masters"][1].get("answered") and doc["masters"][1].get("nodes") == 3]
    check(st and len(m1_silent) == len(st), "(f): wsg status during the cut did not show m1 silent and m2 with 3 "
                                            "nodes: " + " | ".join(f"cut+{d:.1f} s {masters_view(doc)}" for d, doc in st))
    bad_h = [(ts - cut, hs_) for ts, hs_ in marks["health"] if any(s != 200 for _, s in hs_)]
    check(not bad_h, f"(f): a node's /healthz not 200 while m2 answered: "
                     + ", ".join(f"cut+{d:.2f} s {h}" for d, h in bad_h[:10]))
    took, doc, _ = marks["agree"]
    check(took is not None, f"(f): masters_agree not true again within {args.agree_bound} s of the heal: "
                            f"{masters_view(doc)}")
    for u in cs:
        check(cs[u].closed_at is None, f"(f): {u}'s connection closed ({cs[u].close_info})")
    for c in cs.values():
        await c.close()
    print(f"  (f) m1's log: {len(dead_m1)} nodes declared dead at cut+"
          f"{'/'.join(f'{x:.2f}' for x in dead_m1) or '-'} s, back at heal+{'/'.join(f'{x:.2f}' for x in back_m1) or '-'} s; "
          f"NODE_DOWN logged by the nodes since the cut: {down_n}", flush=True)
    print(f"  (f) wsg status during the cut: "
          f"{masters_view(st[0][1]) if st else 'not polled'}; /healthz of n1..n3 "
          f"{'200 throughout' if not bad_h else 'NOT 200'} ({len(marks['health'])} samples)", flush=True)
    print(f"  (f) by phase: {phase_table(allr)}", flush=True)
    print(f"  (f) uncached sends, ack latency: {latencies(probes.refs, marks)}", flush=True)
    print(f"  (f) after the heal: masters_agree true {None if took is None else round(took, 2)} s after the heal "
          f"(removing the 10 blackhole routes took {heal - marks['heal_start']:.2f} s)", flush=True)
    print(f"SUMMARY (f) m1 cut from all for {args.cut2_seconds:.1f} s: {len(refs)} sends ({fmt(counts)}), "
          f"{len(probes.refs)} uncached ({fmt(pcounts)}), received {sum(1 for r in allr if r in L.recv)}, "
          f"none twice, in {now() - t_start:.1f} s", flush=True)


async def main():
    for name, fn in (("a", scenario_a), ("b", scenario_b), ("c", scenario_c),
                     ("d", scenario_d), ("e", scenario_e), ("f", scenario_f)):
        if name in args.only:
            log(f"scenario ({name})")
            await asyncio.wait_for(fn(), 60)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--script", required=True)
    p.add_argument("--subnet", default="10.231.0")
    p.add_argument("--only", default="abc")
    p.add_argument("--burst", type=int, default=50, help="(a): sends per ordered node pair")
    p.add_argument("--period", type=float, default=0.1, help="(b), (c): one send per pair every PERIOD s")
    p.add_argument("--cut-seconds", type=float, default=6.0)
    p.add_argument("--after-heal-seconds", type=float, default=4.0)
    p.add_argument("--recover-bound", type=float, default=3.0)
    p.add_argument("--cut2-seconds", type=float, default=5.0, help="(e), (f): how long the cut lasts")
    p.add_argument("--pool", type=int, default=20, help="(e), (f): users per node for the uncached sends")
    p.add_argument("--agree-bound", type=float, default=8.0,
                   help="(d), (e), (f): masters_agree true within this many s (after the heal)")
    args = p.parse_args()
    try:
        asyncio.run(main())
    except Exception as e:  # a scenario that timed out or crashed
        failures.append(f"driver: {type(e).__name__}: {e}")
        log(f"FAIL: driver: {type(e).__name__}: {e}")
    if failures:
        print(f"FAILED: {len(failures)} checks (first: {failures[0]})", flush=True)
        sys.exit(1)
    print("OK: every check held", flush=True)
