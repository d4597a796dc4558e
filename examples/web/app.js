// The demo chat page (index.html): connect as a user to the node that served the page, keep a
// list of people with their online status (presence), send messages and watch their acks.
// All the protocol work is in wsg-client.js; this file is the UI. Text from the network is only
// ever put in the page with textContent.
import { WsgClient } from "./wsg-client.js";

const USER_ID = /^[A-Za-z0-9._@:-]{1,128}$/;
const PRESENCE_EVERY_MS = 3000;
const MAX_LOG_ITEMS = 500;

const $ = (id) => document.getElementById(id);
const endpoint = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;

let client = null;
let presenceTimer = null;
const contacts = new Map();  // user id -> <li>

// ---- storage (best effort: a browser may refuse it) -------------------------------------------

function load(key, fallback) {
  try {
    const v = localStorage.getItem(`wsg-demo:${key}`);
    return v === null ? fallback : JSON.parse(v);
  } catch (_) {
    return fallback;
  }
}

function save(key, value) {
  try {
    localStorage.setItem(`wsg-demo:${key}`, JSON.stringify(value));
  } catch (_) { /* private mode, quota: the page works without it */ }
}

// ---- rendering ------------------------------------------------------------------------------

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function time(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function bodyText(body) {
  if (body && typeof body === "object" && typeof body.text === "string") return body.text;
  return JSON.stringify(body);
}

function addLogItem(li) {
  const log = $("log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(li);
  while (log.children.length > MAX_LOG_ITEMS) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function logSystem(text, isError = false) {
  const li = el("li", isError ? "sys error" : "sys", text);
  li.dataset.testid = "sys";
  addLogItem(li);
}

function setStatus(li, status, detail) {
  li.dataset.status = status;
  const badge = li.querySelector(".status");
  badge.className = `status status-${status}`;
  badge.textContent = status;
  badge.title = detail || "";
}

function renderState(s) {
  const box = $("state");
  box.dataset.state = s.state;
  box.className = `state state-${s.state}`;
  let text;
  switch (s.state) {
    case "connecting":
      text = s.attempt > 0 ? `connecting… (retry ${s.attempt})` : "connecting…";
      break;
    case "open":
      text = `connected as ${client.user} on ${client.node}`;
      break;
    case "reconnecting":
      text = `reconnecting in ${(s.delayMs / 1000).toFixed(1)} s`;
      break;
    case "closed":
      text = "disconnected";
      break;
    default:
      text = "not connected";
  }
  box.textContent = text;
  const open = s.state === "open";
  $("send").disabled = !open;
  $("disconnect").disabled = s.state === "closed" || s.state === "idle";
}

// ---- people and presence --------------------------------------------------------------------

function addContact(name) {
  if (!USER_ID.test(name) || contacts.has(name)) return;
  const li = el("li");
  li.dataset.testid = `contact-${name}`;
  li.dataset.user = name;
  li.dataset.online = "unknown";
  li.append(el("span", "dot"), el("span", "name", name), el("span", "presence-label", ""));
  li.addEventListener("click", () => select(name));
  $("contacts").append(li);
  contacts.set(name, li);
  if (client && client.user) save(`contacts:${client.user}`, Array.from(contacts.keys()));
  refreshPresence();
}

function setOnline(name, online) {
  const li = contacts.get(name);
  if (!li) return;
  li.dataset.online = online === null ? "unknown" : String(online);
  li.querySelector(".presence-label").textContent = online === null ? "" : online ? "online" : "offline";
}

function select(name) {
  for (const [n, li] of contacts) li.classList.toggle("selected", n === name);
  $("to").value = name;
  $("body").focus();
}

function refreshPresence() {
  if (!client || client.state !== "open" || contacts.size === 0) return;
  const names = Array.from(contacts.keys()).slice(0, 100);
  client.presence(names).then(
    (users) => {
      for (const [name, online] of Object.entries(users)) setOnline(name, online === true);
    },
    () => { /* disconnected meanwhile, or no answer: the next round asks again */ });
}

function startPresence() {
  stopPresence();
  refreshPresence();
  presenceTimer = setInterval(refreshPresence, PRESENCE_EVERY_MS);
}

function stopPresence() {
  clearInterval(presenceTimer);
  presenceTimer = null;
  for (const name of contacts.keys()) setOnline(name, null);
}

// ---- connection -----------------------------------------------------------------------------

function connect(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  const user = $("user").value.trim();
  let url;
  if (token) {
    url = `${endpoint}?token=${encodeURIComponent(token)}`;
  } else if (USER_ID.test(user)) {
    url = `${endpoint}?user=${encodeURIComponent(user)}`;
    save("user", user);
  } else {
    logSystem("a user name is 1 to 128 of A-Z a-z 0-9 . _ @ : -", true);
    $("user").focus();
    return;
  }
  if (client) client.close();
  client = new WsgClient({ url, pingIntervalMs: 25000 });
  client.on("state", (s) => {
    renderState(s);
    if (s.state !== "open") stopPresence();
  });
  client.on("welcome", (w) => {
    logSystem(`connected to ${w.node} as ${w.user}`);
    for (const name of load(`contacts:${w.user}`, [])) addContact(name);
    startPresence();
  });
  client.on("close", (c) => {
    if (c.code === 1001) logSystem(`${client.node || "the node"} is shutting down (1001 ${c.reason}): reconnecting`);
    else if (client.state !== "closed") logSystem(`connection lost (${c.code}${c.reason ? " " + c.reason : ""})`, true);
  });
  client.on("message", (m) => {
    addContact(m.from);
    const li = el("li", "msg in");
    li.dataset.testid = "msg-in";
    li.dataset.from = m.from;
    li.append(el("span", "meta", `${m.from} · ${time(m.ts)}`), el("span", "text", bodyText(m.body)));
    addLogItem(li);
    if (!$("to").value) select(m.from);
  });
  client.on("error", (e) => logSystem(`refused: ${e.code} (${e.message})`, true));
  client.connect().catch(() => { /* closed by the user, or gave up: the state says so */ });
}

function disconnect() {
  if (client) client.close();
  logSystem("disconnected");
}

function send(event) {
  event.preventDefault();
  const to = $("to").value.trim();
  const text = $("body").value;
  if (!client || client.state !== "open" || !text.trim()) return;
  if (!USER_ID.test(to)) {
    logSystem(`"${to}" is not a user name`, true);
    $("to").focus();
    return;
  }
  addContact(to);
  const li = el("li", "msg out");
  li.dataset.testid = "msg-out";
  li.dataset.to = to;
  li.append(el("span", "meta", `to ${to} · ${time(Date.now())}`), el("span", "text", text), el("span", "status"));
  setStatus(li, "pending");
  addLogItem(li);
  $("body").value = "";
  client.send(to, { text }).then((ack) => {
    setStatus(li, ack.status, ack.reason ? `${ack.reason}` : `message ${ack.id}`);
    if (ack.status === "offline") setOnline(to, false);
    else if (ack.status === "delivered") setOnline(to, true);
  });
}

// ---- start ----------------------------------------------------------------------------------

function start() {
  $("endpoint").textContent = endpoint;
  const params = new URLSearchParams(location.search);
  $("user").value = params.get("user") || load("user", "");
  if (params.get("to")) $("to").value = params.get("to");
  $("connect-form").addEventListener("submit", connect);
  $("disconnect").addEventListener("click", disconnect);
  $("send-form").addEventListener("submit", send);
  $("add-contact-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("add-contact").value.trim();
    if (!USER_ID.test(name)) {
      logSystem(`"${name}" is not a user name`, true);
      return;
    }
    addContact(name);
    $("add-contact").value = "";
  });
  document.body.dataset.ready = "true";  // the module ran: the browser test waits for this
}

start();
