// Browser end-to-end test of the demo chat page (examples/web, docs/demo.md).
//
// Starts a master and two nodes serving examples/web (http.static_dir) on free loopback ports
// (with rooms.notices = true, from a node.toml written in the artefacts directory),
// opens Debian's Chromium (/usr/bin/chromium, driven by playwright-core; no browser is ever
// downloaded) with alice's page on node-1 and bob's on node-2, and through the UI only: both
// connect, see each other online (presence), alice writes to bob (bob sees it, alice sees
// "delivered"), bob answers; then both join the room "lobby" in the room panel (alice sees bob's
// join notice), alice publishes (bob sees it, alice sees "delivered to 1 session"), bob publishes,
// alice lists the members (alice and bob); then node-2 is stopped (SIGTERM: 1001 "drain") and
// started again, bob's page reconnects by itself, gets the next message, joins "lobby" again by
// itself and gets the next room message. Screenshots of both pages are saved (also right after
// the room checks: alice-rooms.png, bob-rooms.png).
//
//   node tests/browser/chat.spec.mjs --wsg build/wsg [--artifacts DIR] [--chromium PATH]
//                                    [--web DIR] [--timeout-s N]
// or tests/browser/run.sh with the same arguments (installs the npm dependencies first).
// Artefacts (screenshots, the wsg logs): --artifacts, else $WSG_ARTIFACTS, else a new directory
// under the system's temporary directory. Exit 0 when every check passed.
//
// Hermetic: free ports, each wait bounded, one watchdog for the whole run, and every process it
// started (wsg, Chromium) ended before it exits.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");

// ---- arguments ----------------------------------------------------------------------------------

function parseArgs(argv) {
  const out = {
    wsg: process.env.WSG_BINARY || path.join(repo, "build", "wsg"),
    artifacts: process.env.WSG_ARTIFACTS || "",
    chromium: process.env.WSG_CHROMIUM || "/usr/bin/chromium",
    web: path.join(repo, "examples", "web"),
    timeoutS: 150,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--wsg") out.wsg = value();
    else if (a === "--artifacts") out.artifacts = value();
    else if (a === "--chromium") out.chromium = value();
    else if (a === "--web") out.web = value();
    else if (a === "--timeout-s") out.timeoutS = Number(value());
    else throw new Error(`unknown argument ${a}`);
  }
  out.wsg = path.resolve(out.wsg);
  out.web = path.resolve(out.web);
  if (!out.artifacts) out.artifacts = fs.mkdtempSync(path.join(os.tmpdir(), "wsg-browser-"));
  out.artifacts = path.resolve(out.artifacts);
  return out;
}

// ---- checks and reporting ---------------------------------------------------------------------

let passed = 0;
let failed = 0;

function log(msg) {
  process.stdout.write(`[${(performance.now() / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);
}

async function step(name, fn) {
  try {
    await fn();
    passed += 1;
    log(`ok   ${name}`);
  } catch (e) {
    failed += 1;
    log(`FAIL ${name}: ${e && e.message ? e.message.split("\n")[0] : e}`);
    throw e;
  }
}

// ---- processes --------------------------------------------------------------------------------

const children = new Set();

function freePort(taken) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => (taken.has(port) ? resolve(freePort(taken)) : (taken.add(port), resolve(port))));
    });
  });
}

class Proc {
  constructor(name, bin, args, logFile) {
    this.name = name;
    this.logFile = logFile;
    const out = fs.openSync(logFile, "a");
    this.child = spawn(bin, args, { stdio: ["ignore", out, out] });
    fs.closeSync(out);
    this.exitCode = null;
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exitCode = code ?? 128 + (os.constants.signals[signal] || 0);
        children.delete(this);
        resolve(this.exitCode);
      });
    });
    this.child.on("error", (e) => log(`${name}: ${e.message}`));
    children.add(this);
  }

  running() {
    return this.exitCode === null;
  }

  // SIGTERM, then SIGKILL after `ms`; resolves with the exit code.
  async stop(ms = 8000) {
    if (!this.running()) return this.exitCode;
    this.child.kill("SIGTERM");
    const code = await Promise.race([this.exited, delay(ms).then(() => null)]);
    if (code !== null) return code;
    this.child.kill("SIGKILL");
    return this.exited;
  }

  tail(lines = 30) {
    try {
      return fs.readFileSync(this.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch (_) {
      return "";
    }
  }
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Polls `pred` with a short back-off until it holds or `ms` pass.
async function pollUntil(what, pred, ms) {
  const deadline = Date.now() + ms;
  let wait = 10;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(wait);
    wait = Math.min(wait * 2, 200);
  }
}

async function healthy(port) {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    return r.status === 200;
  } catch (_) {
    return false;
  }
}

// ---- the cluster --------------------------------------------------------------------------------

async function startCluster(opt) {
  const taken = new Set();
  const logs = path.join(opt.artifacts, "logs");
  fs.mkdirSync(logs, { recursive: true });
  // Join and leave notices are sent only by nodes with rooms.notices = true (off by default), which
  // has no flag: the nodes read it from this file (the flags give everything else).
  const nodeConfig = path.join(opt.artifacts, "node.toml");
  fs.writeFileSync(nodeConfig, "# written by tests/browser/chat.spec.mjs\n[rooms]\nnotices = true\n");
  const masterAddr = `tcp://127.0.0.1:${await freePort(taken)}`;
  const master = new Proc("master", opt.wsg, ["master", "--bind", masterAddr, "--log-level", "debug"],
                          path.join(logs, "master.log"));
  const nodes = [];
  for (const id of ["node-1", "node-2"]) {
    const port = await freePort(taken);
    const events = `tcp://127.0.0.1:${await freePort(taken)}`;
    const args = ["node", "--config", nodeConfig, "--id", id, "--listen", `127.0.0.1:${port}`, "--master", masterAddr,
                  "--events-bind", events, "--static-dir", opt.web, "--log-level", "debug"];
    nodes.push({ id, port, args, logFile: path.join(logs, `${id}.log`) });
  }
  for (const n of nodes) n.proc = new Proc(n.id, opt.wsg, n.args, n.logFile);
  for (const n of nodes) await waitReady(n);
  return { master, nodes };
}

async function waitReady(n) {
  await pollUntil(`${n.id} /healthz 200`, async () => {
    if (!n.proc.running()) throw new Error(`${n.id} exited with ${n.proc.exitCode}:\n${n.proc.tail()}`);
    return healthy(n.port);
  }, 15000);
}

// ---- the page -----------------------------------------------------------------------------------

const T = 15000;  // bound of every UI wait

function watchPage(page, who, problems) {
  page.on("pageerror", (e) => problems.push(`${who}: uncaught ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text())) {
      problems.push(`${who}: ${m.text()}`);
    }
  });
}

async function openPage(browser, port, who, problems) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  watchPage(page, who, problems);
  const res = await page.goto(`http://127.0.0.1:${port}/`);
  if (!res || res.status() !== 200) throw new Error(`GET / on ${port}: ${res ? res.status() : "no response"}`);
  await page.locator("body[data-ready=true]").waitFor();
  return page;
}

async function connectAs(page, user) {
  await page.getByTestId("user").fill(user);
  await page.getByTestId("connect").click();
  await page.locator('[data-testid=state][data-state="open"]').waitFor();
}

async function addContact(page, name) {
  await page.getByTestId("add-contact").fill(name);
  await page.getByTestId("add-contact-button").click();
}

async function waitOnline(page, name, online) {
  await page.locator(`[data-testid="contact-${name}"][data-online="${online}"]`).waitFor();
}

async function sendTo(page, to, text) {
  await page.getByTestId("to").fill(to);
  await page.getByTestId("body").fill(text);
  await page.getByTestId("send").click();
}

// The sent message with this text shows `status` (delivered | offline | failed) next to it.
async function waitStatus(page, text, status) {
  await page.locator(`[data-testid=msg-out][data-status="${status}"]`).filter({ hasText: text }).waitFor();
}

async function waitIncoming(page, from, text) {
  await page.locator(`[data-testid=msg-in][data-from="${from}"]`).filter({ hasText: text }).waitFor();
}

// ---- the room panel -----------------------------------------------------------------------------

async function joinRoom(page, room) {
  await page.getByTestId("room-name").fill(room);
  await page.getByTestId("join").click();
  await waitJoined(page, room);
}

async function waitJoined(page, room) {
  await page.locator(`[data-testid="joined-${room}"][data-state="joined"]`).waitFor();
}

// Selects the room in the joined list, then publishes `text` to it.
async function publishTo(page, room, text) {
  await page.getByTestId(`joined-${room}`).click();
  await page.locator("[data-testid=room-selected]").filter({ hasText: `#${room}` }).waitFor();
  await page.getByTestId("room-body").fill(text);
  await page.getByTestId("publish").click();
}

async function waitRoomIncoming(page, room, from, text) {
  await page.locator(`[data-testid=room-msg-in][data-room="${room}"][data-from="${from}"]`)
    .filter({ hasText: text }).waitFor();
}

// The published message with this text shows its ack: `status`, and `sessions` when given.
async function waitRoomStatus(page, room, text, status, sessions) {
  const sel = `[data-testid=room-msg-out][data-room="${room}"][data-status="${status}"]` +
              (sessions === undefined ? "" : `[data-sessions="${sessions}"]`);
  const li = page.locator(sel).filter({ hasText: text });
  try {
    await li.waitFor();
  } catch (e) {
    const shown = await page.locator(`[data-testid=room-msg-out][data-room="${room}"]`).filter({ hasText: text })
      .locator(".status").allTextContents().catch(() => []);
    throw new Error(`"${text}" in #${room} did not show ${status}${sessions === undefined ? "" : ` to ${sessions}`}` +
                    ` (it shows: ${shown.join(", ") || "nothing"})`);
  }
}

async function waitNotice(page, room, event, user) {
  await page.locator(`[data-testid=room-notice][data-room="${room}"][data-event="${event}"][data-user="${user}"]`)
    .first().waitFor();
}

async function screenshots(pages, dir, suffix) {
  for (const [who, page] of Object.entries(pages)) {
    const file = path.join(dir, `${who}-${suffix}.png`);
    await page.screenshot({ path: file, fullPage: true, timeout: 10000 });
    log(`screenshot ${file}`);
  }
}

// ---- main ---------------------------------------------------------------------------------------

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  fs.mkdirSync(opt.artifacts, { recursive: true });
  log(`wsg ${opt.wsg}; page ${opt.web}; chromium ${opt.chromium}; artefacts ${opt.artifacts}`);
  for (const f of [opt.wsg, opt.chromium, path.join(opt.web, "index.html")]) {
    if (!fs.existsSync(f)) throw new Error(`${f} does not exist`);
  }

  let cluster = null;
  let browser = null;
  const pages = {};
  const problems = [];
  try {
    await step("master and two nodes serving examples/web are up", async () => {
      cluster = await startCluster(opt);
    });
    const [n1, n2] = cluster.nodes;

    await step("Chromium starts", async () => {
      // playwright-core adds its own fresh temporary --user-data-dir (it refuses one in `args`)
      // and removes it when the browser closes.
      browser = await chromium.launch({
        executablePath: opt.chromium,
        headless: true,
        timeout: 30000,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      });
    });

    await step("alice's page loads from node-1 and bob's from node-2", async () => {
      pages.alice = await openPage(browser, n1.port, "alice", problems);
      pages.bob = await openPage(browser, n2.port, "bob", problems);
    });
    const { alice, bob } = pages;

    await step("both connect through the page and get their welcome", async () => {
      await connectAs(alice, "alice");
      await connectAs(bob, "bob");
      const a = await alice.getByTestId("state").textContent();
      const b = await bob.getByTestId("state").textContent();
      if (!a.includes("alice") || !a.includes("node-1")) throw new Error(`alice's state: ${a}`);
      if (!b.includes("bob") || !b.includes("node-2")) throw new Error(`bob's state: ${b}`);
    });

    await step("presence: alice sees bob online and carol offline", async () => {
      await addContact(alice, "bob");
      await addContact(alice, "carol");
      await waitOnline(alice, "bob", "true");
      await waitOnline(alice, "carol", "false");
    });

    await step("alice writes to bob: bob sees it, alice sees delivered", async () => {
      await sendTo(alice, "bob", "hello bob, from alice");
      await waitIncoming(bob, "alice", "hello bob, from alice");
      await waitStatus(alice, "hello bob, from alice", "delivered");
    });

    await step("bob sees alice online (added from the conversation) and answers her", async () => {
      await waitOnline(bob, "alice", "true");
      await bob.getByTestId("contact-alice").click();
      const to = await bob.getByTestId("to").inputValue();
      if (to !== "alice") throw new Error(`clicking alice set the recipient to "${to}"`);
      await bob.getByTestId("body").fill("hi alice, bob here");
      await bob.getByTestId("send").click();
      await waitIncoming(alice, "bob", "hi alice, bob here");
      await waitStatus(bob, "hi alice, bob here", "delivered");
    });

    await step("a message to a user with no session is acked offline", async () => {
      await sendTo(alice, "carol", "are you there, carol?");
      await waitStatus(alice, "are you there, carol?", "offline");
    });

    await step("rooms: alice (node-1) and bob (node-2) join lobby; alice's log shows bob's join notice", async () => {
      await joinRoom(alice, "lobby");
      await joinRoom(bob, "lobby");
      await waitNotice(alice, "lobby", "join", "bob");
    });

    await step("alice publishes to lobby: bob's room log shows it, alice's ack says delivered to 1 session", async () => {
      await publishTo(alice, "lobby", "hello room");
      await waitRoomIncoming(bob, "lobby", "alice", "hello room");
      await waitRoomStatus(alice, "lobby", "hello room", "delivered", 1);
      const status = await alice.locator("[data-testid=room-msg-out]").filter({ hasText: "hello room" })
        .locator(".status").textContent();
      if (!/delivered to 1 session\b/.test(status)) throw new Error(`alice's ack reads "${status}"`);
    });

    await step("bob publishes to lobby: alice's room log shows it, bob's ack says delivered to 1 session", async () => {
      await publishTo(bob, "lobby", "hello alice, from the lobby");
      await waitRoomIncoming(alice, "lobby", "bob", "hello alice, from the lobby");
      await waitRoomStatus(bob, "lobby", "hello alice, from the lobby", "delivered", 1);
    });

    await step("room messages stay out of the direct message log", async () => {
      const n = await alice.locator("[data-testid=log] li").filter({ hasText: "hello alice, from the lobby" }).count();
      if (n !== 0) throw new Error(`bob's room message is in alice's direct log ${n} time(s)`);
    });

    await step("alice's members list of lobby (Refresh) shows alice and bob", async () => {
      await alice.getByTestId("joined-lobby").click();
      await alice.getByTestId("refresh-members").click();
      await alice.getByTestId("member-alice").waitFor();
      await alice.getByTestId("member-bob").waitFor();
      const users = await alice.locator("[data-testid=members] li").allTextContents();
      if (users.join(",") !== "alice,bob") throw new Error(`members of lobby: ${users.join(", ")}`);
    });

    await step("screenshots of both pages with the room panel", async () => {
      await screenshots(pages, opt.artifacts, "rooms");
    });

    await step("wsg-client.js gives up on a refused handshake (handshake_refused) instead of retrying forever", async () => {
      // An insecure node answers a handshake without ?user= with HTTP 400, as a jwt node answers a
      // refused token with 401: the page sees neither status, only a socket closed before opening,
      // while the node's /healthz answers 200.
      const result = await alice.evaluate(async () => {
        const { WsgClient } = await import("/wsg-client.js");
        const client = new WsgClient({
          url: `ws://${location.host}/ws`,
          token: async () => "not-a-token",  // the token function is called before every attempt
          backoff: { initialMs: 50, maxMs: 100, factor: 2, jitter: 0 },
          maxRefusals: 2,
        });
        const errors = [];
        client.on("error", (e) => errors.push(e.code));
        const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), 10000));
        try {
          const outcome = await Promise.race([client.connect(), timeout]);
          client.close();
          return { gaveUp: false, outcome, state: client.state, attempt: client.attempt };
        } catch (e) {
          return { gaveUp: true, code: e.code, state: client.state, errors };
        }
      });
      if (!result.gaveUp || result.code !== "handshake_refused" || result.state !== "closed" ||
          result.errors.join() !== "handshake_refused") {
        throw new Error(`the client did not give up as expected: ${JSON.stringify(result)}`);
      }
    });

    await step("node-2 drains (1001): bob's page shows it and reconnects when node-2 is back", async () => {
      const code = await n2.proc.stop();
      if (code !== 0) throw new Error(`node-2 exited with ${code} on SIGTERM`);
      await bob.locator("[data-testid=sys]").filter({ hasText: "1001" }).waitFor();
      const state = await bob.getByTestId("state").getAttribute("data-state");
      if (state === "open") throw new Error("bob's page still says open after the drain");
      n2.proc = new Proc(n2.id, opt.wsg, n2.args, n2.logFile);
      await waitReady(n2);
      await bob.locator('[data-testid=state][data-state="open"]').waitFor({ timeout: 30000 });
    });

    await step("after the reconnect alice's next message reaches bob", async () => {
      await waitOnline(alice, "bob", "true");
      await sendTo(alice, "bob", "welcome back, bob");
      await waitIncoming(bob, "alice", "welcome back, bob");
      await waitStatus(alice, "welcome back, bob", "delivered");
    });

    await step("bob's page joined lobby again by itself: alice's next room message reaches him", async () => {
      await bob.locator("[data-testid=room-sys]").filter({ hasText: "rejoined #lobby" }).waitFor();
      await waitJoined(bob, "lobby");
      await publishTo(alice, "lobby", "welcome back to the lobby");
      await waitRoomIncoming(bob, "lobby", "alice", "welcome back to the lobby");
      await waitRoomStatus(alice, "lobby", "welcome back to the lobby", "delivered", 1);
    });

    await step("no script error and no Content-Security-Policy refusal on either page", async () => {
      if (problems.length) throw new Error(problems.join("; "));
    });
  } catch (e) {
    if (!failed) {
      failed += 1;
      log(`FAIL ${e && e.stack ? e.stack : e}`);
    }
    if (problems.length) log(`page problems: ${problems.join("; ")}`);
    if (cluster) {
      for (const p of [cluster.master, ...cluster.nodes.map((n) => n.proc)]) {
        log(`---- last lines of ${p.logFile}\n${p.tail()}`);
      }
    }
  } finally {
    for (const [who, page] of Object.entries(pages)) {
      const file = path.join(opt.artifacts, `${who}${failed ? "-failed" : ""}.png`);
      try {
        await page.screenshot({ path: file, fullPage: true, timeout: 10000 });
        log(`screenshot ${file}`);
      } catch (e) {
        log(`screenshot of ${who}'s page failed: ${e.message}`);
      }
    }
    if (browser) await browser.close().catch(() => {});
    if (cluster) {
      const procs = [...cluster.nodes.map((n) => n.proc), cluster.master];
      const codes = await Promise.all(procs.map((p) => p.stop()));
      procs.forEach((p, i) => {
        if (codes[i] !== 0) {
          failed += 1;
          log(`FAIL ${p.name} exited with ${codes[i]} on SIGTERM`);
        }
      });
    }
  }
  log(`artefacts in ${opt.artifacts}`);
  process.stdout.write(`browser: ${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

// Whatever happens, no child outlives this process.
function killChildren() {
  for (const p of children) {
    try {
      p.child.kill("SIGKILL");
    } catch (_) { /* gone */ }
  }
}
process.on("exit", killChildren);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    killChildren();
    process.exit(130);
  });
}

const timeoutS = (() => {
  const i = process.argv.indexOf("--timeout-s");
  return i > 0 ? Number(process.argv[i + 1]) : 150;
})();
const watchdog = setTimeout(() => {
  process.stdout.write(`browser: the whole run took over ${timeoutS} s: stopped\n`);
  killChildren();
  process.exit(1);
}, timeoutS * 1000);

main().then(
  (code) => {
    clearTimeout(watchdog);
    process.exitCode = code;
  },
  (e) => {
    clearTimeout(watchdog);
    process.stdout.write(`browser: ${e && e.stack ? e.stack : e}\n`);
    process.exitCode = 1;
  });
