// wsg-client.js: a small browser client for wsg's client protocol (v1, docs/protocol.md).
// An ES module with no dependencies:  import { WsgClient } from "./wsg-client.js";
//
//   const client = new WsgClient({ url: "ws://127.0.0.1:8081/ws?user=alice" });
//   client.on("message", (m) => console.log(m.from, m.body));
//   client.on("state", (s) => console.log(s.state));
//   await client.connect();                       // resolves with the first welcome frame
//   const ack = await client.send("bob", { text: "hi" });
//   console.log(ack.status);                      // "delivered" | "offline" | "failed"
//   const online = await client.presence(["bob", "carol"]);   // { bob: true, carol: false }
//   client.on("roommessage", (m) => console.log(m.room, m.from, m.body));
//   await client.join("lobby", { notices: true });  // { type: "ack", status: "joined", room }
//   const r = await client.publish("lobby", { text: "hi all" });
//   console.log(r.status, r.sessions);            // "delivered" 3 | "no_members" 0 | "failed"
//   const { users, next } = await client.members("lobby");
//   client.close();
//
// new WsgClient(options)
//   url               string, array of strings (tried in turn, one per attempt), or a function
//                     (attempt) => string or Promise of a string, called before every connect and
//                     reconnect. Required. The identity is in it (?user=ID or ?token=JWT), or in `token`.
//   token             a JWT, or a function (attempt) => string or Promise of a string, called before
//                     every connect and reconnect, so that a reconnect fetches a fresh token from
//                     your login service; added to the URL as ?token= (or &token=). A url or token
//                     function that throws or rejects stops the client: "error" { code:
//                     "token_unavailable" }, state "closed", connect() rejects with that code.
//   maxRefusals       3: a handshake the node refuses (HTTP 401 for a refused token, also 403, 429,
//                     503, ...) is only seen by a browser as a close (1006) before the socket opened,
//                     like a node that is down. After each such close the client asks the node's
//                     /healthz: a 200 (readable when the page is the node's, or with CORS) means a
//                     healthy node refused the handshake; a 503 (draining) does not count. When the
//                     status cannot be read (a no-cors fetch), an answer counts, except after a
//                     drain (1001) since the last welcome. After maxRefusals refusals in a row
//                     the client stops: "error" { code:
//                     "handshake_refused" }, state "closed", connect() rejects with that code. A node
//                     that does not answer is retried as before. Infinity: never give up.
//   fetch             the fetch function for that probe (default: globalThis.fetch; none: no probe).
//   reconnect         true (default): reconnect after any close that close() did not ask for
//                     (1001 "drain", network loss, a refused handshake, ...), but see serverCloses.
//   serverCloses      what to do when the application's backend closes the session through wsg's
//                     server API (close codes 4000-4999: a ban, a revoked token, a logout
//                     elsewhere; docs/api.md): "auto" (default) reconnects only when `url` or
//                     `token` is a function (the login service decides, with a fresh token,
//                     whether the user may come back), else stops; "stop" always stops;
//                     "reconnect" always reconnects. Stopping: "error" { code: "server_closed",
//                     closeCode, message: the close reason }, state "closed" { closeCode }.
//   backoff           { initialMs: 500, maxMs: 30000, factor: 2, jitter: 0.5 }: the n-th retry
//                     (n = 0, 1, ...) waits min(maxMs, initialMs * factor^n), less a random part of
//                     up to `jitter` of it, so clients dropped together do not come back together.
//                     The count restarts at each welcome.
//   maxAttempts       retries before giving up (state "closed"); Infinity (default).
//   ackTimeoutMs      10000: a send without an ack (or error) by then resolves as failed, "timeout".
//                     Keep it above the cluster's delivery timeout (2000 ms by default).
//   requestTimeoutMs  10000: presence(), ping(), join(), leave() and members() reject after this
//                     (publish() after ackTimeoutMs).
//   pingIntervalMs    0 (off): when > 0, an application ping is sent this often while connected;
//                     no pong within pongTimeoutMs (default: the interval) closes the socket
//                     (code 3000, "ping timeout"), which then reconnects. Detects half-dead
//                     connections.
//   WebSocket         the WebSocket class (default: globalThis.WebSocket).
//
// Methods
//   connect()          starts (or restarts) connecting; returns a Promise of the next welcome frame
//                      (rejected if close() is called or maxAttempts runs out first).
//   close()            closes with 1000, stops reconnecting; pending sends resolve as failed,
//                      other pending requests reject ("disconnected"); the joined rooms are forgotten.
//   send(to, body, { timeoutMs })
//                      Promise of the ack: { type: "ack", ref, id, status } from the server, or a
//                      local one { type: "ack", ref, status: "failed", reason } where reason is
//                      "not_connected" (nothing sent), "timeout", "disconnected" (the connection
//                      closed first: the message may or may not have arrived), or a server error
//                      code ("bad_recipient", "rate_limited", ...) with the error frame as `error`.
//                      It never rejects. The promise has the frame's client id as `.id`.
//   presence(users)    Promise of { user: online } for up to 100 user ids.
//   ping()             Promise of the round trip in milliseconds.
//   join(room, { echo, notices })
//                      Promise of the ack { type: "ack", ref, status: "joined", room }. echo: also get
//                      your own publishes; notices: get "notice" frames when other members join/leave.
//                      A joined room is remembered and joined again (same options) after every
//                      reconnect, since memberships end with the session: see the "rejoin" event.
//   leave(room)        Promise of the ack { ..., status: "left", room }. The room is forgotten at
//                      once (not joined again after a reconnect), whatever the answer.
//   publish(room, body, { timeoutMs })
//                      Promise of the ack { type: "ack", ref, id, status, room, sessions, reason? }:
//                      status "delivered" (to `sessions` member sessions), "no_members" or
//                      "failed" (with reason; it may or may not have reached some members).
//   members(room, { after, limit })
//                      Promise of the answer { type: "members", ref, room, users, next?, partial? }:
//                      up to `limit` (1..1000, server default 100) user ids after the cursor `after`;
//                      pass `next` as `after` for the following page. partial: a node did not answer.
//                      Like presence() and ping(), the four room methods reject with an Error whose
//                      `code` is the server's error code (bad_room, not_joined, not_allowed,
//                      too_many_rooms, room_full, ...; the frame is in `frame`) or a local one:
//                      "not_connected" (nothing sent), "timeout", "disconnected" (the connection
//                      closed first). Each promise has the frame's client id as `.id`.
//   on(event, fn)      subscribe; returns a function that unsubscribes. off(event, fn) also does.
//
// Properties: state, user, session, node (from the last welcome), attempt (retries so far),
//             rooms (the names of the rooms joined and not left: those joined again on reconnect).
//
// Events (each handler gets one argument)
//   "state"     { state, previous, attempt, delayMs, code, reason }. state is one of
//               "idle" (never connected), "connecting" (socket opening or waiting for the welcome),
//               "open" (welcomed: sends go out), "reconnecting" (waiting delayMs before the next
//               try; code and reason are those of the close), "closed" (close() or gave up).
//   "welcome"   the welcome frame { user, session, node }.
//   "message"   a direct message frame { id, from, to, body, ts }.
//   "roommessage" a room message frame { id, room, from, body, ts } (it has "room" and no "to").
//   "notice"    a room notice { room, event: "join" | "leave", user, ts } (rooms joined with notices).
//   "rejoin"    after a reconnect, for each remembered room: { room, ack } once joined again, or
//               { room, error, dropped }: dropped is true when the server refused it (error.code,
//               e.g. not_allowed) and the room was forgotten; false when the connection closed or
//               timed out first (it is tried again after the next reconnect).
//   "ack"       every ack frame (also delivered through the promise of send(), join(), ...).
//   "presence"  every presence answer { ref, users }.
//   "members"   every members answer { ref, room, users, next?, partial? }.
//   "error"     every error frame { code, message, ref? }.
//   "close"     { code, reason, wasClean } for every socket that closes.

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30000, factor: 2, jitter: 0.5 };
const MAX_PRESENCE_NAMES = 100;

// An Error for a rejected request: `code` is the server's error code or a local one.
function requestError(code, message, frame) {
  const e = new Error(`${code}: ${message}`);
  e.code = code;
  if (frame) e.frame = frame;
  return e;
}

export class WsgClient {
  constructor(options = {}) {
    if (!options.url) throw new TypeError("WsgClient: options.url is required");
    this._url = options.url;
    this._reconnect = options.reconnect !== false;
    this._backoff = { ...DEFAULT_BACKOFF, ...(options.backoff || {}) };
    this._maxAttempts = options.maxAttempts ?? Infinity;
    this._ackTimeoutMs = options.ackTimeoutMs ?? 10000;
    this._requestTimeoutMs = options.requestTimeoutMs ?? 10000;
    this._pingIntervalMs = options.pingIntervalMs ?? 0;
    this._pongTimeoutMs = options.pongTimeoutMs ?? this._pingIntervalMs;
    this._WebSocket = options.WebSocket || globalThis.WebSocket;
    this._token = options.token;
    this._maxRefusals = options.maxRefusals ?? 3;
    this._serverCloses = options.serverCloses || "auto";
    this._fetch = options.fetch || (typeof globalThis.fetch === "function" ? globalThis.fetch.bind(globalThis) : null);

    this.state = "idle";
    this.user = null;
    this.session = null;
    this.node = null;
    this.attempt = 0;

    this._ws = null;
    this._handlers = new Map();
    this._pending = new Map();  // client id -> { kind, resolve, reject, timer, local }
    this._rooms = new Map();    // room -> { echo, notices }: joined (acked) and not left
    this._roomOps = new Map();  // room -> number of its last join()/leave() call
    this._welcomeWaiters = [];
    this._retryTimer = null;
    this._pingTimer = null;
    this._stopped = false;
    this._counter = 0;
    this._generation = 0;  // bumped by every _open() and close(): late url/token answers are dropped
    this._refusals = 0;    // refused handshakes in a row (see maxRefusals)
    this._drained = false; // a close 1001 (drain) came since the last welcome
    this._epoch = 0;       // bumped by every welcome and close(): late probe answers are dropped
    this._opened = false;  // whether the current socket opened
    this._target = "";     // the URL of the current socket
    this._prefix = Math.random().toString(36).slice(2, 8);
  }

  on(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    this._handlers.get(event).add(fn);
    return () => this.off(event, fn);
  }

  get rooms() {
    return Array.from(this._rooms.keys());
  }

  off(event, fn) {
    const set = this._handlers.get(event);
    if (set) set.delete(fn);
  }

  connect() {
    this._stopped = false;
    const welcomed = new Promise((resolve, reject) => this._welcomeWaiters.push({ resolve, reject }));
    if (this.state === "open") {
      this._settleWelcome({ type: "welcome", user: this.user, session: this.session, node: this.node });
    } else if (this.state !== "connecting") {
      clearTimeout(this._retryTimer);
      this._retryTimer = null;
      this.attempt = 0;
      this._open();
    }
    return welcomed;
  }

  close() {
    this._stopped = true;
    this._generation += 1;
    this._epoch += 1;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._stopPing();
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      this._detach(ws);
      try {
        ws.close(1000, "bye");
      } catch (_) { /* already closing */ }
    }
    this._failPending("disconnected");
    this._rooms.clear();
    this._roomOps.clear();
    this._rejectWelcome(new Error("closed"));
    this._setState("closed", {});
  }

  send(to, body, { timeoutMs } = {}) {
    const id = this._nextId("c");
    const promise = new Promise((resolve) => {
      const local = (reason, extra = {}) => ({ type: "ack", ref: id, status: "failed", reason, ...extra });
      if (this.state !== "open" || !this._ws) {
        resolve(local("not_connected"));
        return;
      }
      const entry = { kind: "send", resolve, local };
      entry.timer = setTimeout(() => {
        this._pending.delete(id);
        resolve(local("timeout"));
      }, timeoutMs ?? this._ackTimeoutMs);
      this._pending.set(id, entry);
      this._ws.send(JSON.stringify({ type: "send", to, body, id }));
    });
    promise.id = id;
    return promise;
  }

  presence(users) {
    const names = Array.from(new Set(users));
    if (names.length > MAX_PRESENCE_NAMES) {
      return Promise.reject(new RangeError(`presence: at most ${MAX_PRESENCE_NAMES} names`));
    }
    return this._request("q", { type: "presence", users: names }).then((frame) => frame.users);
  }

  ping() {
    const start = Date.now();
    return this._request("p", { type: "ping" }).then(() => Date.now() - start);
  }

  join(room, { echo, notices } = {}) {
    const opts = { echo: echo === true, notices: notices === true };
    const op = this._roomOp(room);
    const request = this._request("j", joinFrame(room, opts));
    const promise = request.then((ack) => {
      // Remembered only if no leave() or other join() of the room came after this call.
      if (ack.status === "joined" && this._roomOps.get(room) === op) this._rooms.set(room, opts);
      return ack;
    });
    promise.id = request.id;
    return promise;
  }

  leave(room) {
    this._roomOp(room);
    this._rooms.delete(room);
    return this._request("l", { type: "leave", room });
  }

  publish(room, body, { timeoutMs } = {}) {
    return this._request("r", { type: "publish", room, body }, timeoutMs ?? this._ackTimeoutMs);
  }

  members(room, { after, limit } = {}) {
    const frame = { type: "members", room };
    if (after !== undefined && after !== null) frame.after = after;
    if (limit !== undefined && limit !== null) frame.limit = limit;
    return this._request("m", frame);
  }

  // ---- internals ------------------------------------------------------------------------------

  _nextId(kind) {
    this._counter += 1;
    return `${kind}${this._counter}-${this._prefix}`;
  }

  // Sends `frame` with a fresh id; the promise (with the id as `.id`) resolves with the answer
  // frame whose ref is that id and rejects with an Error carrying `code` (see requestError).
  _request(kind, frame, timeoutMs = this._requestTimeoutMs) {
    const id = this._nextId(kind);
    const promise = new Promise((resolve, reject) => {
      if (this.state !== "open" || !this._ws) {
        reject(requestError("not_connected", `${frame.type}: not connected`));
        return;
      }
      const entry = { kind: "request", resolve, reject };
      entry.timer = setTimeout(() => {
        this._pending.delete(id);
        reject(requestError("timeout", `${frame.type}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this._pending.set(id, entry);
      this._ws.send(JSON.stringify({ ...frame, id }));
    });
    promise.id = id;
    return promise;
  }

  _roomOp(room) {
    const n = (this._roomOps.get(room) || 0) + 1;
    this._roomOps.set(room, n);
    return n;
  }

  // After a welcome: join again every remembered room (the old session's memberships are gone).
  _rejoin() {
    for (const [room, opts] of this._rooms) {
      const op = this._roomOps.get(room);
      this._request("j", joinFrame(room, opts)).then(
        (ack) => this._emit("rejoin", { room, ack }),
        (error) => {
          // A refusal by the server (error.frame) forgets the room; a close or a timeout does not.
          const dropped = Boolean(error.frame) && this._roomOps.get(room) === op && this._rooms.has(room);
          if (dropped) this._rooms.delete(room);
          this._emit("rejoin", { room, error, dropped });
        });
    }
  }

  async _urlFor(attempt) {
    let url = this._url;
    if (typeof url === "function") url = await url(attempt);
    else if (Array.isArray(url)) url = url[attempt % url.length];
    if (typeof url !== "string" || url === "") throw new Error("the url option gave no URL");
    if (this._token !== undefined && this._token !== null) {
      const token = typeof this._token === "function" ? await this._token(attempt) : this._token;
      if (typeof token !== "string" || token === "") throw new Error("the token option gave no token");
      url += (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
    }
    return url;
  }

  // Gives up for good: state "closed", connect() rejects with an Error whose code is `code`.
  _giveUp(code, message, extra = {}) {
    this._stopped = true;
    this._generation += 1;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    const ws = this._ws;
    if (ws) {
      // a later attempt still opening when the verdict came
      this._detach(ws);
      this._ws = null;
      this._stopPing();
      try {
        ws.close();
      } catch (_) { /* closing a socket that is not open yet may throw in some implementations */ }
    }
    this._emit("error", { type: "error", code, message });
    const err = new Error(`${code}: ${message}`);
    err.code = code;
    this._rejectWelcome(err);
    this._setState("closed", { ...extra, code, reason: message });
  }

  _open() {
    this._setState("connecting", {});
    const generation = ++this._generation;
    this._urlFor(this.attempt).then(
      (url) => {
        if (generation === this._generation && !this._stopped) this._openSocket(url);
      },
      (e) => {
        if (generation !== this._generation || this._stopped) return;
        this._giveUp("token_unavailable", String(e && e.message ? e.message : e));
      });
  }

  _openSocket(url) {
    let ws;
    try {
      ws = new this._WebSocket(url);
    } catch (e) {
      // a malformed URL: retrying cannot help
      this._stopped = true;
      this._emit("error", { type: "error", code: "bad_url", message: String(e && e.message ? e.message : e) });
      this._rejectWelcome(e);
      this._setState("closed", {});
      return;
    }
    this._ws = ws;
    this._opened = false;
    this._target = url;
    ws.onopen = () => {
      if (ws === this._ws) this._opened = true;
    };
    ws.onmessage = (ev) => this._onFrame(ev.data);
    ws.onclose = (ev) => this._onClose(ws, ev.code, ev.reason, ev.wasClean);
    ws.onerror = () => { /* a close event always follows */ };
  }

  _detach(ws) {
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
  }

  _onFrame(data) {
    let f;
    try {
      f = JSON.parse(data);
    } catch (_) {
      return;  // not ours to judge: the server only sends JSON objects
    }
    if (!f || typeof f !== "object") return;
    switch (f.type) {
      case "welcome":
        this.user = f.user;
        this.session = f.session;
        this.node = f.node;
        this.attempt = 0;
        this._refusals = 0;
        this._drained = false;
        this._epoch += 1;
        this._setState("open", {});
        this._startPing();
        this._rejoin();  // before the welcome handlers run: their frames go out after the joins
        this._emit("welcome", f);
        this._settleWelcome(f);
        break;
      case "message":
        // A room message has "room" and no "to"; a direct one has "to" and no "room".
        if (typeof f.room === "string" && f.to === undefined) this._emit("roommessage", f);
        else this._emit("message", f);
        break;
      case "notice":
        this._emit("notice", f);
        break;
      case "ack": {
        // send() waits for it, and so do join(), leave() and publish() (kind "request")
        const p = this._take(f.ref);
        this._emit("ack", f);
        if (p) p.resolve(f);
        break;
      }
      case "members": {
        const p = this._take(f.ref, "request");
        this._emit("members", f);
        if (p) p.resolve(f);
        break;
      }
      case "presence": {
        const p = this._take(f.ref, "request");
        this._emit("presence", f);
        if (p) p.resolve(f);
        break;
      }
      case "pong": {
        const p = this._take(f.ref, "request");
        if (p) p.resolve(f);
        break;
      }
      case "error": {
        const p = f.ref !== undefined ? this._take(f.ref) : null;
        this._emit("error", f);
        if (p && p.kind === "send") p.resolve(p.local(f.code, { error: f }));
        else if (p) p.reject(requestError(f.code, f.message, f));
        break;
      }
      default:
        break;  // unknown frame types are ignored (forward compatibility)
    }
  }

  _take(ref, kind) {
    if (ref === undefined || !this._pending.has(ref)) return null;
    const p = this._pending.get(ref);
    if (kind && p.kind !== kind) return null;
    this._pending.delete(ref);
    clearTimeout(p.timer);
    return p;
  }

  _onClose(ws, code, reason, wasClean) {
    if (ws !== this._ws) return;
    const opened = this._opened;
    if (code === 1001) this._drained = true;
    this._detach(ws);
    this._ws = null;
    this._stopPing();
    this._failPending("disconnected");
    this._emit("close", { code, reason, wasClean });
    if (opened && code >= 4000 && code <= 4999 && !this._stopped) {
      // Closed by the application's backend (wsg's server API, docs/api.md).
      const fresh = typeof this._token === "function" || typeof this._url === "function";
      const again = this._serverCloses === "reconnect" || (this._serverCloses === "auto" && fresh);
      if (!again) {
        const message = reason || `closed by the server (${code})`;
        this._emit("error", { type: "error", code: "server_closed", closeCode: code, message });
        this._stopped = true;
        this._generation += 1;
        const err = new Error(`server_closed: ${message}`);
        err.code = "server_closed";
        err.closeCode = code;
        this._rejectWelcome(err);
        this._setState("closed", { code, reason, closeCode: code });
        return;
      }
    }
    if (this._stopped || !this._reconnect || this.attempt >= this._maxAttempts) {
      this._stopped = true;
      this._rejectWelcome(new Error(`connection closed (${code}${reason ? " " + reason : ""})`));
      this._setState("closed", { code, reason });
      return;
    }
    const delayMs = this._delay(this.attempt);
    this.attempt += 1;
    this._setState("reconnecting", { code, reason, delayMs });
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (!this._stopped) this._open();
    }, delayMs);
    if (opened) this._refusals = 0;
    else this._probe(this._target);
  }

  // A socket closed before it opened: was the handshake refused (the node answers HTTP) or is the
  // node out of reach? Browsers hide the HTTP status of a refused upgrade (401 for a refused token);
  // a no-cors fetch of /healthz tells only whether the node answered, which is what is needed.
  _probe(target) {
    if (!(this._maxRefusals < Infinity) || typeof this._fetch !== "function") return;
    let probe;
    try {
      const u = new URL(target);
      u.protocol = u.protocol === "wss:" ? "https:" : "http:";
      u.pathname = "/healthz";
      u.search = "";
      u.hash = "";
      probe = u.href;
    } catch (_) {
      return;
    }
    const epoch = this._epoch;
    const drained = this._drained;
    // First a CORS request, whose status can be read (a page the node serves, or a node sending CORS
    // headers): 200 means a healthy node refused the handshake; anything else (503: draining, no
    // master) is not the token's fault. Else a no-cors one, which only tells that the node answered:
    // not counted after a drain (1001) since the last welcome, when a 503 is likely.
    const ask = () =>
      Promise.resolve()
        .then(() => this._fetch(probe, { cache: "no-store" }))
        .then((res) => res.status === 200, () =>
          this._fetch(probe, { mode: "no-cors", cache: "no-store" }).then(() => !drained));
    ask().then(
        (refused) => {
          // A welcome or close() since (a new epoch) makes the answer moot.
          if (epoch !== this._epoch || this._stopped || !refused) return;
          this._refusals += 1;
          if (this._refusals < this._maxRefusals) return;
          this._giveUp(
            "handshake_refused",
            `the node answered but refused the WebSocket handshake ${this._refusals} times in a row: most likely ` +
              "the token (HTTP 401: missing, expired, wrong signature, audience or issuer), else the origin (403) " +
              "or a limit (429, 503); browsers cannot read the status, see the node's log or try the URL with curl");
        },
        () => { /* the node did not answer: out of reach, not a refusal; keep retrying */ });
  }

  _delay(n) {
    const { initialMs, maxMs, factor, jitter } = this._backoff;
    const base = Math.min(maxMs, initialMs * Math.pow(factor, n));
    return Math.round(base * (1 - jitter * Math.random()));
  }

  _failPending(reason) {
    const pending = Array.from(this._pending.values());
    this._pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      if (p.kind === "send") p.resolve(p.local(reason));
      else p.reject(requestError(reason, "the connection closed before the answer"));
    }
  }

  _startPing() {
    this._stopPing();
    if (!(this._pingIntervalMs > 0)) return;
    this._pingTimer = setInterval(() => {
      const ws = this._ws;
      const timer = setTimeout(() => {
        if (ws === this._ws && ws) ws.close(3000, "ping timeout");
      }, this._pongTimeoutMs);
      // Only a pong cancels the close: a ping that fails (its own timeout) leaves the timer on.
      this.ping().then(() => clearTimeout(timer), () => {});
    }, this._pingIntervalMs);
  }

  _stopPing() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  _settleWelcome(frame) {
    const waiters = this._welcomeWaiters;
    this._welcomeWaiters = [];
    for (const w of waiters) w.resolve(frame);
  }

  _rejectWelcome(err) {
    const waiters = this._welcomeWaiters;
    this._welcomeWaiters = [];
    for (const w of waiters) w.reject(err);
  }

  _setState(state, extra) {
    const previous = this.state;
    this.state = state;
    this._emit("state", { state, previous, attempt: this.attempt, ...extra });
  }

  _emit(event, arg) {
    const set = this._handlers.get(event);
    if (!set) return;
    for (const fn of Array.from(set)) {
      try {
        fn(arg);
      } catch (e) {
        console.error(`WsgClient: a "${event}" handler threw`, e);
      }
    }
  }
}

function joinFrame(room, { echo, notices }) {
  const frame = { type: "join", room };
  if (echo) frame.echo = true;
  if (notices) frame.notices = true;
  return frame;
}
