#!/usr/bin/env node
// Socket.IO load generator for the comparison (docs/benchmarks.md, target 2): the equivalent of
// `wsg-bench remote` in closed loop, against two server.js processes joined by Redis.
//
//   node client.js --ws URL_A --ws URL_B [--pairs N] [--window W] [--duration S] [--warmup S]
//                  [--body-bytes N] [--max-messages N] [--procs P] [--pid NAME=PID ...]
//                  [--user-prefix S] [--json FILE|-] [--timeout S]
//
// Pair i: sender `PREFIXs<i>` on URL[i mod n], recipient `PREFIXr<i>` on URL[(i+1) mod n] (as
// wsg-bench remote does), websocket transport only, one connection per user. Each pair keeps W
// messages in flight: every delivery to the recipient makes its sender send the next one. The
// body is, as wsg-bench's, {"t":..,"p":pair,"s":seq,"x":"xxx.."} padded to about --body-bytes.
// Traffic runs --warmup seconds, then the measured window of --duration seconds: `sent` counts
// the messages sent in the window, `delivered` those of them received (after a bounded drain),
// `lost` the difference, and the latency (send to receipt, one process's monotonic clock) is that
// of the delivered ones; throughput = delivered / window. --pid samples each server's CPU
// (utime+stime from /proc/PID/stat) and RSS at the window's start and end: server CPU µs per
// message = their CPU time summed / delivered. --procs P splits the pairs over P worker processes
// (one Node.js event loop drives a few tens of thousands of messages/s at most).
//
// With --room, the equivalent of `wsg-bench room` (docs/load-generator.md, "Rooms") instead, in
// closed loop (--window publishes in flight per publisher until their ack) or open loop (--rate
// publishes/s in all, latency from the scheduled time):
//
//   node client.js --room --ws URL [--ws URL ...] [--members N] [--publishers M] [--rooms K]
//                  [--rate R] [--window W] [--duration S] [--warmup S] [--body-bytes N]
//                  [--max-messages N] [--procs P] [--pid NAME=PID ...] [--json FILE|-] [--timeout S]
//
// The same layout as wsg-bench's: room r holds a contiguous block of members (sizes as even as
// can be), member k connects to URL[k mod n] as `PREFIXm<k>` and joins its room (`join`, acked);
// the first members of each room publish (`publish` {room, body}, acked). Every member records the
// publish->delivery latency of each delivery (T from CLOCK_MONOTONIC, process.hrtime, the same
// clock in every worker process) and checks the order per publisher; every publish of the window
// owes a delivery to each other member of its room, and what did not arrive is lost. --pid
// samples the servers' CPU over the window: CPU µs per delivery.
//
// The JSON report uses wsg-bench's key names where they apply; it is written to --json (default
// stdout), a readable summary to stderr. Exit 0 when the run is clean (ok), 1 otherwise, 2 on
// bad usage. Everything is bounded: --timeout (default duration + warmup + 60 s) ends the run.
'use strict';

const { fork, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const { performance } = require('node:perf_hooks');

// ---------------------------------------------------------------------------------------------
// Latency histogram: log buckets 1% wide, in microseconds; merged by adding counts.

const LOG_STEP = Math.log(1.01);
const NBUCKETS = 2400; // 1.01^2400 µs ≈ 2e10 µs: every latency we could see

class Histogram {
  constructor() {
    this.counts = new Array(NBUCKETS).fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }
  record(us) {
    const v = Math.max(1, us);
    const i = Math.min(NBUCKETS - 1, Math.floor(Math.log(v) / LOG_STEP));
    this.counts[i] += 1;
    this.count += 1;
    this.sum += us;
    if (us > this.max) this.max = us;
  }
  merge(o) {
    for (let i = 0; i < NBUCKETS; i++) this.counts[i] += o.counts[i];
    this.count += o.count;
    this.sum += o.sum;
    if (o.max > this.max) this.max = o.max;
  }
  quantile(q) {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < NBUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.max, Math.exp((i + 0.5) * LOG_STEP));
    }
    return this.max;
  }
  toJSON() {
    const r = (v) => (v === null ? null : Math.round(v));
    return {
      count: this.count,
      p50: r(this.quantile(0.5)),
      p90: r(this.quantile(0.9)),
      p99: r(this.quantile(0.99)),
      p999: r(this.quantile(0.999)),
      max: r(this.count ? this.max : null),
      mean: this.count ? Math.round((this.sum / this.count) * 10) / 10 : null,
    };
  }
  static from(o) {
    const h = new Histogram();
    Object.assign(h, o);
    return h;
  }
}

// ---------------------------------------------------------------------------------------------
// Options

function usage(why) {
  console.error(`client.js: ${why}`);
  console.error(
    'usage: node client.js --ws URL --ws URL [--pairs N] [--window W] [--duration S] [--warmup S]\n' +
      '       [--body-bytes N] [--max-messages N] [--procs P] [--pid NAME=PID]... [--user-prefix S]\n' +
      '       [--json FILE|-] [--timeout S]',
  );
  process.exit(2);
}

function parseOptions(argv) {
  const o = {
    ws: [], pairs: 100, window: 1, duration: 10, warmup: 2, body_bytes: 64, max_messages: 0,
    procs: 1, pid: [], user_prefix: 'sio', json: '-', timeout: 0, connect_concurrency: 64,
    room: false, members: 100, publishers: 1, rooms: 1, rate: 0,
  };
  const num = (name, v, min, integer = true) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
      usage(`${name} needs ${integer ? 'an integer' : 'a number'} >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    switch (a) {
      case '--ws': {
        const u = v();
        if (!u || !/^(ws|http):\/\/[^/]+/.test(u)) usage(`--ws needs a ws:// or http:// URL (got ${u})`);
        o.ws.push(u.replace(/^ws:/, 'http:').replace(/\/ws\/?$/, ''));
        break;
      }
      case '--pairs': o.pairs = num(a, v(), 1); break;
      case '--room': o.room = true; break;
      case '--members': o.members = num(a, v(), 1); break;
      case '--publishers': o.publishers = num(a, v(), 1); break;
      case '--rooms': o.rooms = num(a, v(), 1); break;
      case '--rate': o.rate = num(a, v(), 0, false); break;
      case '--window': o.window = num(a, v(), 1); break;
      case '--duration': o.duration = num(a, v(), 0.1, false); break;
      case '--warmup': o.warmup = num(a, v(), 0, false); break;
      case '--body-bytes': o.body_bytes = num(a, v(), 0); break;
      case '--max-messages': o.max_messages = num(a, v(), 0); break;
      case '--procs': o.procs = num(a, v(), 1); break;
      case '--connect-concurrency': o.connect_concurrency = num(a, v(), 1); break;
      case '--timeout': o.timeout = num(a, v(), 0, false); break;
      case '--user-prefix': o.user_prefix = v() ?? usage('--user-prefix needs a value'); break;
      case '--json': o.json = v() ?? usage('--json needs FILE or -'); break;
      case '--pid': {
        const m = /^([^=]+)=(\d+)$/.exec(v() ?? '');
        if (!m) usage('--pid needs NAME=PID');
        o.pid.push({ name: m[1], pid: Number(m[2]) });
        break;
      }
      case '-h': case '--help': usage('the Socket.IO equivalent of wsg-bench remote (closed loop)'); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (o.room) {
    if (o.ws.length < 1) usage('a --ws URL is needed');
    if (o.rooms > o.publishers) usage('every room needs a publisher (--rooms <= --publishers)');
    if (o.publishers > o.members) usage('publishers are members too (--publishers <= --members)');
    if (o.members < 2 * o.rooms) usage('every room needs two members or more (--members >= 2 x --rooms)');
    if (o.procs > o.members) o.procs = o.members;
    if (o.timeout === 0) o.timeout = o.duration + o.warmup + 60;
    return o;
  }
  if (o.rate > 0) usage('--rate: the pair workload is closed loop only (--rate is for --room)');
  if (o.ws.length < 2) usage('two --ws URLs are needed (sender and recipient servers)');
  if (o.procs > o.pairs) o.procs = o.pairs;
  if (o.timeout === 0) o.timeout = o.duration + o.warmup + 60;
  return o;
}

// ---------------------------------------------------------------------------------------------
// /proc sampling

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {
  // keep 100, Linux's USER_HZ
}

function sampleProc(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    const cpu_s = (Number(f[11]) + Number(f[12])) / clkTck;     // fields 14 utime, 15 stime
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return { ok: true, cpu_s, rss_kib: m ? Number(m[1]) : 0 };
  } catch (e) {
    return { ok: false, error: `cannot read /proc/${pid}: ${e.code || e.message}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Worker: its slice of the pairs, connected, driven in closed loop.

async function worker() {
  const { io } = require('socket.io-client');
  const o = JSON.parse(process.env.SIO_BENCH_OPTIONS);
  const first = Number(process.env.SIO_BENCH_FIRST);
  const last = Number(process.env.SIO_BENCH_LAST); // exclusive
  const r = {
    opened: 0, failed: 0, sent: 0, delivered: 0, duplicates: 0, out_of_order: 0, errors: 0,
    closed_by_peer: 0, problems: [], latency: new Histogram(),
  };
  const problem = (p) => { if (r.problems.length < 10) r.problems.push(p); };
  const padding = 'x'.repeat(Math.max(0, o.body_bytes - 48));
  const sockets = [];
  let closing = false;

  // Connect one user; resolves true once welcomed.
  const connect = (url, user) =>
    new Promise((resolve) => {
      const s = io(url, {
        transports: ['websocket'], query: { user }, forceNew: true, reconnection: false, timeout: 10000,
      });
      sockets.push(s);
      let done = false;
      const finish = (ok, why) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (ok) r.opened += 1;
        else {
          r.failed += 1;
          problem(`session ${user}: ${why}`);
        }
        resolve(ok ? s : null);
      };
      const timer = setTimeout(() => finish(false, 'no welcome within 10 s'), 10000);
      s.on('welcome', () => finish(true));
      s.on('connect_error', (e) => finish(false, `connect_error: ${e.message}`));
      s.on('error_frame', () => { r.errors += 1; });
      s.on('disconnect', (why) => {
        if (!done) finish(false, `disconnected: ${why}`);
        else if (!closing) {
          r.closed_by_peer += 1;
          problem(`session ${user} ended during the run: ${why}`);
        }
      });
    });

  const pairs = [];
  for (let i = first; i < last; i++) {
    const n = o.ws.length;
    pairs.push({
      index: i, senderUrl: o.ws[i % n], recipientUrl: o.ws[(i + 1) % n],
      sender: `${o.user_prefix}s${i}`, recipient: `${o.user_prefix}r${i}`,
      tx: null, rx: null, seq: 0, highest: -1, outstanding: new Set(), quota: Infinity,
    });
  }
  if (o.max_messages > 0)
    for (const p of pairs)
      p.quota = Math.floor(o.max_messages / o.pairs) + (p.index < o.max_messages % o.pairs ? 1 : 0);

  // Recipient first: it has joined its room before its sender can send.
  const per = Math.max(1, Math.floor(o.connect_concurrency / o.procs));
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(per, pairs.length) }, async () => {
    while (next < pairs.length) {
      const p = pairs[next++];
      p.rx = await connect(p.recipientUrl, p.recipient);
      if (p.rx) p.tx = await connect(p.senderUrl, p.sender);
    }
  }));
  process.send({ type: 'ready', opened: r.opened, failed: r.failed });

  const go = await new Promise((resolve) => process.once('message', resolve));
  // Wall-clock instants from the parent, turned into this process's monotonic clock.
  const offset = performance.now() - Date.now();
  const tStart = go.startAt + offset;
  const tWindow = tStart + o.warmup * 1000;
  const tEnd = tWindow + o.duration * 1000;
  let sending = false;

  const send = (p) => {
    if (!sending || p.quota <= 0) return;
    p.quota -= 1;
    const t = performance.now();
    const seq = p.seq++;
    if (t >= tWindow && t < tEnd) r.sent += 1;
    p.outstanding.add(seq);
    p.tx.emit('send', { to: p.recipient, body: { t, p: p.index, s: seq, x: padding } });
  };

  const live = pairs.filter((p) => p.tx && p.rx);
  for (const p of live) {
    p.rx.on('message', (m) => {
      const now = performance.now();
      const b = m && m.body;
      if (!b || typeof b.s !== 'number' || typeof b.t !== 'number' || b.p !== p.index) {
        r.errors += 1;
        return;
      }
      if (!p.outstanding.delete(b.s)) {
        r.duplicates += 1;
        return;
      }
      if (b.s < p.highest) r.out_of_order += 1;
      else p.highest = b.s;
      if (b.t >= tWindow && b.t < tEnd) {
        r.delivered += 1;
        r.latency.record((now - b.t) * 1000);
      }
      send(p);
    });
  }

  await new Promise((resolve) => setTimeout(resolve, Math.max(0, tStart - performance.now())));
  sending = true;
  for (const p of live) for (let k = 0; k < o.window; k++) send(p);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, tEnd - performance.now())));
  sending = false;

  // Drain: what was sent in the window has up to 5 s to arrive.
  const drainUntil = performance.now() + 5000;
  while (r.delivered < r.sent && performance.now() < drainUntil)
    await new Promise((resolve) => setTimeout(resolve, 20));

  closing = true;
  const { counts, count, sum, max } = r.latency; // raw: the class's toJSON is the summary
  process.send({ type: 'result', result: { ...r, latency: { counts, count, sum, max } } });
  for (const s of sockets) s.disconnect();
  setTimeout(() => process.exit(0), 200);
}

// ---------------------------------------------------------------------------------------------
// Parent: forks the workers, starts them together, samples the servers, merges, reports.

async function main() {
  const o = parseOptions(process.argv.slice(2));
  const startedAt = new Date().toISOString();
  const problems = [];
  const total = {
    opened: 0, failed: 0, sent: 0, delivered: 0, duplicates: 0, out_of_order: 0, errors: 0,
    closed_by_peer: 0, latency: new Histogram(),
  };
  const samples = o.pid.map((s) => ({ ...s, start: null, end: null }));
  const workers = [];
  let finished = false;
  let windowStartedWall = null;
  let windowEndedWall = null;

  const report = () => {
    const window_s = o.duration;
    const lost = Math.max(0, total.sent - total.delivered);
    let cpuOk = samples.length > 0;
    let cpuTotal = 0;
    const servers = samples.map((s) => {
      const ok = !!(s.start && s.end && s.start.ok && s.end.ok);
      if (!ok) {
        cpuOk = false;
        const why = !s.start ? 'not sampled at the window start' : !s.start.ok ? s.start.error
          : !s.end ? 'not sampled at the window end' : s.end.error;
        problems.push(`server ${s.name} (pid ${s.pid}): ${why}`);
      }
      const cpu = ok ? Math.round((s.end.cpu_s - s.start.cpu_s) * 1000) / 1000 : null;
      if (ok) cpuTotal += s.end.cpu_s - s.start.cpu_s;
      return {
        name: s.name, pid: s.pid, cpu_s: cpu,
        rss_start_kib: s.start && s.start.ok ? s.start.rss_kib : null,
        rss_end_kib: s.end && s.end.ok ? s.end.rss_kib : null,
        rss_delta_kib: ok ? s.end.rss_kib - s.start.rss_kib : null,
      };
    });
    if (total.failed > 0) problems.push(`${total.failed} sessions failed`);
    if (total.opened === 0) problems.push('no session opened');
    if (total.delivered === 0) problems.push('no message delivered in the measured window');
    if (lost > 0) problems.push(`${lost} messages lost (sent in the window, not received)`);
    if (total.duplicates > 0) problems.push(`${total.duplicates} duplicate messages`);
    if (total.out_of_order > 0) problems.push(`${total.out_of_order} messages out of order`);
    if (total.errors > 0) problems.push(`${total.errors} error frames or unexpected messages`);
    if (total.closed_by_peer > 0) problems.push(`${total.closed_by_peer} sessions closed by the server during the run`);
    const round3 = (x) => Math.round(x * 1000) / 1000;
    return {
      tool: 'socketio-bench',
      version: 1,
      peer: 'socket.io',
      scenario: 'remote',
      mode: 'closed',
      options: {
        ws: o.ws, pairs: o.pairs, window: o.window, duration: o.duration, warmup: o.warmup,
        body_bytes: o.body_bytes, max_messages: o.max_messages, procs: o.procs, user_prefix: o.user_prefix,
        timeout: o.timeout, pid: o.pid.map((p) => `${p.name}=${p.pid}`),
      },
      versions: {
        node: process.versions.node,
        'socket.io-client': require('socket.io-client/package.json').version,
      },
      started_at: startedAt,
      window_s,
      window_sampled_s: windowStartedWall && windowEndedWall ? round3((windowEndedWall - windowStartedWall) / 1000) : null,
      processes: o.procs,
      sessions: { opened: total.opened, failed: total.failed, closed_by_peer: total.closed_by_peer },
      messages: {
        sent: total.sent, delivered: total.delivered, lost, duplicates: total.duplicates,
        out_of_order: total.out_of_order, errors: total.errors,
      },
      throughput_msgs_per_s: window_s > 0 ? round3(total.delivered / window_s) : 0,
      latency_us: total.latency.toJSON(),
      servers,
      server_cpu_us_per_msg: cpuOk && total.delivered > 0 ? round3((cpuTotal * 1e6) / total.delivered) : null,
      ok: problems.length === 0,
      problems,
    };
  };

  const finish = (why) => {
    if (finished) return;
    finished = true;
    if (why) problems.push(why);
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    const r = report();
    const text = `${JSON.stringify(r, null, 2)}\n`;
    if (o.json === '-') process.stdout.write(text);
    else fs.writeFileSync(o.json, text);
    const l = r.latency_us;
    console.error(
      `socketio-bench remote (closed), ${o.pairs} pairs x ${o.window} in flight, ${o.procs} process(es)\n` +
        `  sessions:   opened ${r.sessions.opened}, failed ${r.sessions.failed}\n` +
        `  messages:   sent ${r.messages.sent}, delivered ${r.messages.delivered}, lost ${r.messages.lost}, ` +
        `duplicates ${r.messages.duplicates}, out of order ${r.messages.out_of_order}\n` +
        `  throughput: ${r.throughput_msgs_per_s} msgs/s over ${r.window_s} s\n` +
        `  latency:    p50 ${l.p50}  p99 ${l.p99}  p99.9 ${l.p999}  max ${l.max}  mean ${l.mean} us (n=${l.count})\n` +
        `  server CPU: ${r.server_cpu_us_per_msg ?? '-'} us per message\n` +
        r.servers.map((s) => `  server ${s.name} (pid ${s.pid}): cpu ${s.cpu_s} s, rss ${s.rss_start_kib} -> ${s.rss_end_kib} KiB\n`).join('') +
        `  ok:         ${r.ok ? 'yes' : 'no'}\n` +
        r.problems.map((p) => `  problem:    ${p}\n`).join(''),
    );
    process.exitCode = r.ok ? 0 : 1;
    setTimeout(() => process.exit(), 100);
  };

  const hard = setTimeout(() => finish(`timed out after ${o.timeout} s (--timeout)`), o.timeout * 1000);
  hard.unref();

  // Fork the workers, each with a contiguous slice of the pairs.
  const ready = [];
  const results = [];
  for (let k = 0; k < o.procs; k++) {
    const first = Math.floor((k * o.pairs) / o.procs);
    const last = Math.floor(((k + 1) * o.pairs) / o.procs);
    const w = fork(__filename, [], {
      env: {
        ...process.env, SIO_BENCH_WORKER: '1', SIO_BENCH_OPTIONS: JSON.stringify(o),
        SIO_BENCH_FIRST: String(first), SIO_BENCH_LAST: String(last),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    workers.push(w);
    ready.push(new Promise((resolve) => {
      w.on('message', (m) => {
        if (m.type === 'ready') resolve(m);
        else if (m.type === 'result') results.push(m.result);
      });
    }));
    w.on('exit', (code, sig) => {
      if (code !== 0) problems.push(`worker ${k} exited with ${sig || code}`);
    });
  }
  await Promise.all(ready);

  // Start together, 300 ms from now; sample the servers at the window's edges.
  const startAt = Date.now() + 300;
  for (const w of workers) w.send({ type: 'go', startAt });
  const at = (wall, fn) => setTimeout(fn, Math.max(0, wall - Date.now()));
  at(startAt + o.warmup * 1000, () => {
    windowStartedWall = Date.now();
    for (const s of samples) s.start = sampleProc(s.pid);
  });
  at(startAt + (o.warmup + o.duration) * 1000, () => {
    windowEndedWall = Date.now();
    for (const s of samples) s.end = sampleProc(s.pid);
  });

  // Results: every worker reports once its drain is over (or the hard timeout ends the run).
  await Promise.all(workers.map((w) => new Promise((resolve) => w.on('exit', resolve))));
  for (const r of results) {
    for (const key of ['opened', 'failed', 'sent', 'delivered', 'duplicates', 'out_of_order', 'errors', 'closed_by_peer'])
      total[key] += r[key];
    total.latency.merge(Histogram.from(r.latency));
    for (const p of r.problems) if (problems.length < 20) problems.push(p);
  }
  if (results.length < workers.length) problems.push(`${workers.length - results.length} worker(s) gave no result`);
  finish();
}

// ---------------------------------------------------------------------------------------------
// Rooms (--room): the layout of wsg-bench room, worker and parent.

// CLOCK_MONOTONIC in milliseconds (libuv's hrtime): one clock for every process of the machine.
const mono = () => Number(process.hrtime.bigint()) / 1e6;

function roomLayout(o) {
  const q = Math.floor(o.members / o.rooms), extra = o.members % o.rooms;
  const pq = Math.floor(o.publishers / o.rooms), pextra = o.publishers % o.rooms;
  return {
    first: (r) => r * q + Math.min(r, extra),
    size: (r) => q + (r < extra ? 1 : 0),
    publishers: (r) => pq + (r < pextra ? 1 : 0),
    publisherRank: (r) => r * pq + Math.min(r, pextra), // publishers of the rooms before r
    of: (m) => (m < extra * (q + 1) ? Math.floor(m / (q + 1)) : extra + Math.floor((m - extra * (q + 1)) / q)),
    name: (r) => `${o.user_prefix}room${r}`,
  };
}

const MAX_GAP = 1000000; // a seq further than this past the highest seen is not believed

async function roomWorker() {
  const { io } = require('socket.io-client');
  const o = JSON.parse(process.env.SIO_BENCH_OPTIONS);
  const first = Number(process.env.SIO_BENCH_FIRST);
  const last = Number(process.env.SIO_BENCH_LAST); // exclusive
  const L = roomLayout(o);
  const r = {
    opened: 0, failed: 0, joined: 0, join_failed: 0, sent: 0, delivered: 0, expected: 0, duplicates: 0,
    out_of_order: 0, errors: 0, refused: 0, acks_delivered: 0, acks_failed: 0, closed_by_peer: 0,
    problems: [], latency: new Histogram(), send_lag: new Histogram(),
  };
  const problem = (p) => { if (r.problems.length < 10) r.problems.push(p); };
  const padding = 'x'.repeat(Math.max(0, o.body_bytes - 48));
  let closing = false;
  let tWindow = Infinity, tEnd = -Infinity;

  const members = [];
  for (let k = first; k < last; k++) {
    const room = L.of(k);
    const rfirst = L.first(room);
    const npub = L.publishers(room);
    const m = {
      index: k, room, roomName: L.name(room), roomFirst: rfirst, roomSize: L.size(room),
      url: o.ws[k % o.ws.length], user: `${o.user_prefix}m${k}`, socket: null, joined: false,
      tracks: Array.from({ length: npub }, () => ({ max: -1, holes: null })),
      publisher: k - rfirst < npub, seq: 0, inFlight: 0, windowSent: 0, windowRefused: 0, quota: Infinity,
    };
    if (m.publisher && o.max_messages > 0) {
      const rank = L.publisherRank(room) + (k - rfirst);
      m.quota = Math.floor(o.max_messages / o.publishers) + (rank < o.max_messages % o.publishers ? 1 : 0);
    }
    members.push(m);
  }

  const onMessage = (m, msg) => {
    const now = mono();
    const b = msg && msg.body;
    if (!msg || msg.room !== m.roomName || !b || typeof b.t !== 'number' || typeof b.s !== 'number' ||
        typeof b.p !== 'number' || b.p < m.roomFirst || b.p >= m.roomFirst + m.tracks.length || b.p === m.index ||
        b.s < 0) {
      r.errors += 1;
      return;
    }
    const tr = m.tracks[b.p - m.roomFirst];
    if (b.s > tr.max) {
      if (b.s - tr.max > MAX_GAP) {
        r.errors += 1;
        return;
      }
      for (let s = tr.max + 1; s < b.s; s++) (tr.holes ??= new Set()).add(s);
      tr.max = b.s;
    } else if (tr.holes && tr.holes.delete(b.s)) {
      r.out_of_order += 1;
    } else {
      r.duplicates += 1;
      return;
    }
    if (b.t >= tWindow && b.t < tEnd) {
      r.delivered += 1;
      r.latency.record((now - b.t) * 1000);
    }
  };

  // Connect one member and join its room; resolves once joined (or failed).
  const open = (m) =>
    new Promise((resolve) => {
      const s = io(m.url, {
        transports: ['websocket'], query: { user: m.user }, forceNew: true, reconnection: false, timeout: 10000,
      });
      m.socket = s;
      let done = false;
      const finish = (ok, why) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (ok) {
          r.joined += 1;
          m.joined = true;
        } else {
          r.join_failed += 1;
          problem(`session ${m.user}: ${why}`);
        }
        resolve();
      };
      const timer = setTimeout(() => finish(false, 'no welcome and join within 10 s'), 10000);
      s.on('welcome', () => {
        r.opened += 1;
        s.emit('join', { room: m.roomName }, (a) => {
          if (a && a.status === 'joined') finish(true);
          else finish(false, `join: ${JSON.stringify(a)}`);
        });
      });
      s.on('connect_error', (e) => {
        r.failed += 1;
        finish(false, `connect_error: ${e.message}`);
      });
      s.on('message', (msg) => onMessage(m, msg));
      s.on('error_frame', () => { r.errors += 1; });
      s.on('disconnect', (why) => {
        if (!done) finish(false, `disconnected: ${why}`);
        else if (!closing) {
          r.closed_by_peer += 1;
          m.joined = false;
          problem(`session ${m.user} ended during the run: ${why}`);
        }
      });
    });

  const per = Math.max(1, Math.floor(o.connect_concurrency / o.procs));
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(per, members.length) }, async () => {
    while (next < members.length) await open(members[next++]);
  }));
  process.send({ type: 'ready', opened: r.opened, failed: r.join_failed });

  const go = await new Promise((resolve) => process.once('message', resolve));
  const tStart = go.startAt; // mono ms
  tWindow = tStart + o.warmup * 1000;
  tEnd = tWindow + o.duration * 1000;
  let sending = false;
  let answersOwed = 0;
  const publishers = members.filter((m) => m.publisher && m.joined);

  const publish = (m, t) => {
    if (!m.joined || m.quota <= 0) return;
    const seq = m.seq++;
    const inWindow = t >= tWindow && t < tEnd;
    if (inWindow) {
      m.quota -= 1;
      m.windowSent += 1;
      r.sent += 1;
      answersOwed += 1;
    }
    m.inFlight += 1;
    m.socket.emit('publish', { room: m.roomName, body: { t, p: m.index, s: seq, x: padding } }, (a) => {
      m.inFlight -= 1;
      if (inWindow) {
        answersOwed -= 1;
        if (a && a.status === 'delivered') r.acks_delivered += 1;
        else if (a && a.code === 'not_joined') {
          r.refused += 1;
          m.windowRefused += 1;
        } else r.acks_failed += 1;
      }
      if (o.rate === 0) fill(m);
    });
  };
  const fill = (m) => {
    while (sending && m.inFlight < o.window && m.quota > 0) {
      const now = mono();
      if (now >= tEnd) return;
      publish(m, now);
    }
  };

  await new Promise((resolve) => setTimeout(resolve, Math.max(0, tStart - mono())));
  sending = true;
  if (o.rate > 0 && publishers.length > 0) {
    // Open loop: this worker's share of the rate, its publishers in turn, T = the scheduled time.
    const interval = 1000 / ((o.rate * publishers.length) / o.publishers);
    let paced = 0;
    await new Promise((resolve) => {
      const tick = () => {
        const now = mono();
        for (;;) {
          const t = tStart + paced * interval;
          if (t >= tEnd) return resolve();
          if (t > now) break;
          const m = publishers[paced % publishers.length];
          paced += 1;
          if (t >= tWindow) r.send_lag.record((mono() - t) * 1000);
          publish(m, t);
        }
        setTimeout(tick, Math.max(0, Math.min(tStart + paced * interval, tEnd) - mono()));
      };
      tick();
    });
  } else {
    for (const m of publishers) fill(m);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, tEnd - mono())));
  }
  sending = false;

  // What this worker's publishers sent in the window, per room; the parent answers with what this
  // worker's members are owed and until when to wait for it.
  const rooms = {};
  let own = 0;
  for (const m of publishers) {
    rooms[m.room] = (rooms[m.room] || 0) + m.windowSent;
    own += m.windowSent;
  }
  process.send({ type: 'sent', rooms, own });
  const expect = await new Promise((resolve) => process.once('message', resolve));
  while ((r.delivered < expect.deliveries || answersOwed > 0) && mono() < expect.until)
    await new Promise((resolve) => setTimeout(resolve, 10));

  for (const m of publishers) r.expected += Math.max(0, m.windowSent - m.windowRefused) * (m.roomSize - 1);
  closing = true;
  const raw = (h) => ({ counts: h.counts, count: h.count, sum: h.sum, max: h.max });
  process.send({ type: 'result', result: { ...r, latency: raw(r.latency), send_lag: raw(r.send_lag) } });
  for (const m of members) if (m.socket) m.socket.disconnect();
  setTimeout(() => process.exit(0), 200);
}

async function roomMain() {
  const o = parseOptions(process.argv.slice(2));
  const L = roomLayout(o);
  const startedAt = new Date().toISOString();
  const problems = [];
  const keys = ['opened', 'failed', 'joined', 'join_failed', 'sent', 'delivered', 'expected', 'duplicates',
    'out_of_order', 'errors', 'refused', 'acks_delivered', 'acks_failed', 'closed_by_peer'];
  const total = { latency: new Histogram(), send_lag: new Histogram() };
  for (const k of keys) total[k] = 0;
  const samples = o.pid.map((s) => ({ ...s, start: null, end: null }));
  const workers = [];
  let finished = false;
  const round3 = (x) => Math.round(x * 1000) / 1000;

  const report = () => {
    const window_s = o.duration;
    const lost = Math.max(0, total.expected - total.delivered);
    let cpuOk = samples.length > 0;
    let cpuTotal = 0;
    const servers = samples.map((s) => {
      const ok = !!(s.start && s.end && s.start.ok && s.end.ok);
      if (!ok) {
        cpuOk = false;
        problems.push(`server ${s.name} (pid ${s.pid}): not sampled over the window`);
      }
      if (ok) cpuTotal += s.end.cpu_s - s.start.cpu_s;
      return {
        name: s.name, pid: s.pid, cpu_s: ok ? round3(s.end.cpu_s - s.start.cpu_s) : null,
        rss_start_kib: s.start && s.start.ok ? s.start.rss_kib : null,
        rss_end_kib: s.end && s.end.ok ? s.end.rss_kib : null,
      };
    });
    const missing = Math.max(0, total.sent - total.acks_delivered - total.acks_failed - total.refused);
    if (total.failed + total.join_failed > 0) problems.push(`${total.join_failed} sessions failed or did not join`);
    if (total.delivered === 0) problems.push('no delivery in the measured window');
    if (lost > 0) problems.push(`${lost} deliveries lost (owed by publishes of the window, not received)`);
    if (total.duplicates > 0) problems.push(`${total.duplicates} duplicate deliveries`);
    if (total.out_of_order > 0) problems.push(`${total.out_of_order} deliveries out of order`);
    if (total.errors > 0) problems.push(`${total.errors} error frames or unexpected messages`);
    if (total.refused > 0) problems.push(`${total.refused} publishes refused`);
    if (total.acks_failed > 0) problems.push(`${total.acks_failed} publish acks failed`);
    if (missing > 0) problems.push(`${missing} publishes of the window never answered`);
    if (total.closed_by_peer > 0) problems.push(`${total.closed_by_peer} sessions closed by the server during the run`);
    const perDelivery = cpuOk && total.delivered > 0 ? round3((cpuTotal * 1e6) / total.delivered) : null;
    const r = {
      tool: 'socketio-bench', version: 1, peer: 'socket.io', scenario: 'room', mode: o.rate > 0 ? 'open' : 'closed',
      options: {
        ws: o.ws, members: o.members, publishers: o.publishers, rooms: o.rooms, rate: o.rate, window: o.window,
        duration: o.duration, warmup: o.warmup, body_bytes: o.body_bytes, max_messages: o.max_messages,
        procs: o.procs, user_prefix: o.user_prefix, timeout: o.timeout, pid: o.pid.map((p) => `${p.name}=${p.pid}`),
      },
      versions: { node: process.versions.node, 'socket.io-client': require('socket.io-client/package.json').version },
      started_at: startedAt,
      window_s,
      processes: o.procs,
      sessions: { opened: total.opened, failed: total.failed, closed_by_peer: total.closed_by_peer },
      messages: {
        sent: total.sent, delivered: total.delivered, lost, duplicates: total.duplicates,
        out_of_order: total.out_of_order, errors: total.errors,
        acks: { delivered: total.acks_delivered, failed: total.acks_failed },
      },
      throughput_msgs_per_s: round3(total.delivered / window_s),
      latency_us: total.latency.toJSON(),
      servers,
      server_cpu_us_per_msg: perDelivery,
      room: {
        rooms: o.rooms, members: o.members, publishers: o.publishers, joined: total.joined,
        publishes: total.sent, publishes_per_s: round3(total.sent / window_s), refused: total.refused,
        acks: { delivered: total.acks_delivered, failed: total.acks_failed, missing },
        deliveries_expected: total.expected, deliveries: total.delivered,
        deliveries_per_s: round3(total.delivered / window_s), cpu_us_per_delivery: perDelivery,
      },
      ok: problems.length === 0,
      problems,
    };
    if (o.rate > 0) r.send_lag_us = total.send_lag.toJSON();
    return r;
  };

  const finish = (why) => {
    if (finished) return;
    finished = true;
    if (why) problems.push(why);
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    const r = report();
    const text = `${JSON.stringify(r, null, 2)}\n`;
    if (o.json === '-') process.stdout.write(text);
    else fs.writeFileSync(o.json, text);
    const l = r.latency_us;
    console.error(
      `socketio-bench room (${r.mode}), ${o.rooms} room(s), ${o.members} members, ${o.publishers} publishers, ` +
        `${o.procs} process(es)\n` +
        `  sessions:   opened ${r.sessions.opened}, failed ${r.sessions.failed}; joined ${r.room.joined}\n` +
        `  publishes:  ${r.room.publishes} = ${r.room.publishes_per_s}/s; acks delivered ${r.room.acks.delivered}, ` +
        `failed ${r.room.acks.failed}, missing ${r.room.acks.missing}\n` +
        `  deliveries: ${r.room.deliveries} of ${r.room.deliveries_expected} = ${r.room.deliveries_per_s}/s; ` +
        `lost ${r.messages.lost}, duplicates ${r.messages.duplicates}, out of order ${r.messages.out_of_order}\n` +
        `  latency:    p50 ${l.p50}  p90 ${l.p90}  p99 ${l.p99}  p99.9 ${l.p999}  max ${l.max}  mean ${l.mean} us ` +
        `(n=${l.count}, publish -> delivery)\n` +
        `  server CPU: ${r.room.cpu_us_per_delivery ?? '-'} us per delivery\n` +
        r.servers.map((s) => `  server ${s.name} (pid ${s.pid}): cpu ${s.cpu_s} s\n`).join('') +
        `  ok:         ${r.ok ? 'yes' : 'no'}\n` +
        r.problems.map((p) => `  problem:    ${p}\n`).join(''),
    );
    process.exitCode = r.ok ? 0 : 1;
    setTimeout(() => process.exit(), 100);
  };

  const hard = setTimeout(() => finish(`timed out after ${o.timeout} s (--timeout)`), o.timeout * 1000);
  hard.unref();

  // Fork the workers, each with a contiguous slice of the members.
  const ready = [];
  const sent = [];
  const results = [];
  const slices = [];
  for (let k = 0; k < o.procs; k++) {
    const first = Math.floor((k * o.members) / o.procs);
    const last = Math.floor(((k + 1) * o.members) / o.procs);
    slices.push([first, last]);
    const w = fork(__filename, [], {
      env: {
        ...process.env, SIO_BENCH_WORKER: '1', SIO_BENCH_OPTIONS: JSON.stringify(o),
        SIO_BENCH_FIRST: String(first), SIO_BENCH_LAST: String(last),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    workers.push(w);
    ready.push(new Promise((resolve) => {
      w.on('message', (m) => {
        if (m.type === 'ready') resolve(m);
        else if (m.type === 'sent') sent[k] = m;
        else if (m.type === 'result') results.push(m.result);
      });
    }));
    w.on('exit', (code, sig) => {
      if (code !== 0) problems.push(`worker ${k} exited with ${sig || code}`);
    });
  }
  await Promise.all(ready);

  // Start together, 300 ms from now (CLOCK_MONOTONIC); sample the servers at the window's edges.
  const startAt = mono() + 300;
  for (const w of workers) w.send({ type: 'go', startAt });
  const at = (t, fn) => setTimeout(fn, Math.max(0, t - mono()));
  const windowStart = startAt + o.warmup * 1000;
  const windowEnd = windowStart + o.duration * 1000;
  at(windowStart, () => { for (const s of samples) s.start = sampleProc(s.pid); });
  at(windowEnd, () => { for (const s of samples) s.end = sampleProc(s.pid); });

  // Once every worker has sent: each publish of the window owes a delivery to every member of its
  // room but its publisher; tell each worker what its members are owed (5 s of grace at most).
  const allSent = () => workers.every((w, k) => sent[k] || w.exitCode !== null);
  while (!allSent()) await new Promise((resolve) => setTimeout(resolve, 10));
  const perRoom = new Map();
  for (const s of sent) if (s) for (const [room, n] of Object.entries(s.rooms)) perRoom.set(Number(room), (perRoom.get(Number(room)) || 0) + n);
  workers.forEach((w, k) => {
    if (!sent[k] || w.exitCode !== null) return;
    const [first, last] = slices[k];
    let owed = 0;
    for (const [room, n] of perRoom) {
      const lo = Math.max(first, L.first(room)), hi = Math.min(last, L.first(room) + L.size(room));
      if (hi > lo) owed += n * (hi - lo);
    }
    w.send({ type: 'expect', deliveries: owed - sent[k].own, until: Math.max(windowEnd, mono()) + 5000 });
  });

  await Promise.all(workers.map((w) => (w.exitCode !== null ? null : new Promise((resolve) => w.on('exit', resolve)))));
  for (const r of results) {
    for (const key of keys) total[key] += r[key];
    total.latency.merge(Histogram.from(r.latency));
    total.send_lag.merge(Histogram.from(r.send_lag));
    for (const p of r.problems) if (problems.length < 20) problems.push(p);
  }
  if (results.length < workers.length) problems.push(`${workers.length - results.length} worker(s) gave no result`);
  finish();
}

if (process.env.SIO_BENCH_WORKER) {
  const room = JSON.parse(process.env.SIO_BENCH_OPTIONS).room;
  (room ? roomWorker() : worker()).catch((e) => {
    console.error(`client.js worker: ${e.stack || e}`);
    process.exit(1);
  });
} else {
  const room = process.argv.includes('--room');
  (room ? roomMain() : main()).catch((e) => {
    console.error(`client.js: ${e.stack || e}`);
    process.exit(1);
  });
}
