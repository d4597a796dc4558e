// The demo chat page (index.html): connect as a user to the node that served the page, keep a
// list of people with their online status (presence), send messages and watch their acks; join
// rooms, publish to them, list their members and see who joins and leaves.
// All the protocol work is in wsg-client.js; this file is the UI. Text from the network is only
// ever put in the page with textContent.
import { WsgClient } from "./wsg-client.js";

const USER_ID = /^[A-Za-z0-9._@:-]{1,128}$/;
const ROOM_NAME = /^[A-Za-z0-9._@:\/-]{1,128}$/;
const MEMBERS_PAGE = 100;
const PRESENCE_EVERY_MS = 3000;
const MAX_LOG_ITEMS = 500;

const $ = (id) => document.getElementById(id);
const endpoint = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;

let client = null;
let presenceTimer = null;
const contacts = new Map();  // user id -> <li>
const rooms = new Map();     // room name -> <li> in the joined list
const roomRequests = new Set();  // client ids of the room requests in flight (their errors are shown
                                 // in the room log, not as "refused" in the message log)
let selectedRoom = null;
let membersShown = { room: null, next: null };  // the room whose members are listed, its cursor
let membersAsked = 0;  // the members() call whose answer may be shown (older ones are dropped)

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

function addLogItem(li, log = $("log")) {
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
  for (const id of ["join", "leave", "publish", "refresh-members", "more-members"]) $(id).disabled = !open;
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

// ---- rooms --------------------------------------------------------------------------------------

function logRoom(text, isError = false) {
  const li = el("li", isError ? "sys error" : "sys", text);
  li.dataset.testid = "room-sys";
  addLogItem(li, $("room-log"));
}

// Runs a room request of the client: while it is in flight its error frame (if any) is not
// reported by the generic "refused" line of the message log.
function roomRequest(promise) {
  roomRequests.add(promise.id);
  const done = () => roomRequests.delete(promise.id);
  promise.then(done, done);
  return promise;
}

function setRoomState(room, state) {
  const li = rooms.get(room);
  if (!li) return;
  li.dataset.state = state;  // joined | rejoining
  li.querySelector(".room-state").textContent = state === "joined" ? "" : `${state}…`;
}

function addRoom(room) {
  if (!rooms.has(room)) {
    const li = el("li");
    li.dataset.testid = `joined-${room}`;
    li.dataset.room = room;
    const button = el("button", "room-button", `#${room}`);
    button.type = "button";
    button.title = `select ${room}: publish to it, list its members`;
    li.append(button, el("span", "room-state", ""));
    li.addEventListener("click", () => selectRoom(room));
    $("rooms").append(li);
    rooms.set(room, li);
  }
  setRoomState(room, "joined");
}

function removeRoom(room) {
  const li = rooms.get(room);
  if (li) li.remove();
  rooms.delete(room);
  if (selectedRoom === room) selectRoom(rooms.size ? rooms.keys().next().value : null);
}

function clearRooms() {
  for (const li of rooms.values()) li.remove();
  rooms.clear();
  selectRoom(null);
}

function saveRooms() {
  if (client && client.user) save(`rooms:${client.user}`, Array.from(rooms.keys()));
}

function selectRoom(room) {
  selectedRoom = room;
  for (const [name, li] of rooms) li.classList.toggle("selected", name === room);
  $("room-selected").textContent = room ? `#${room}` : "no room";
  if (room) $("room-name").value = room;
  if (membersShown.room !== room) {
    renderMembers(room, { users: [] }, false);
    refreshMembers(false);
  }
}

// Shows a members answer (users, next, partial) for `room`, after the listed ones when `append`.
function renderMembers(room, answer, append) {
  const list = $("members");
  if (!append) list.replaceChildren();
  for (const user of answer.users || []) {
    const li = el("li", "member", user);
    li.dataset.testid = `member-${user}`;
    li.dataset.user = user;
    list.append(li);
  }
  membersShown = { room, next: answer.next ?? null };
  $("members-room").textContent = room ? `of #${room}` : "";
  $("more-members").hidden = !membersShown.next;
  let note = "";
  if (answer.partial) note = "partial: a node of the room did not answer in time";
  else if (answer.ref && list.children.length === 0) note = "nobody";
  $("members-note").textContent = note;
}

// Asks for the selected room's members: the first page, or the next one when `more`.
function refreshMembers(more = false) {
  const room = selectedRoom;
  if (!client || client.state !== "open" || !room) return;
  const after = more && membersShown.room === room ? membersShown.next : null;
  const asked = ++membersAsked;
  roomRequest(client.members(room, { after, limit: MEMBERS_PAGE })).then(
    (m) => {
      if (asked === membersAsked && selectedRoom === room) renderMembers(room, m, after !== null);
    },
    (e) => logRoom(`members of #${room}: ${e.code}`, true));
}

function joinRoom(room) {
  if (!client || client.state !== "open") return;
  roomRequest(client.join(room, { notices: true })).then(
    () => {
      addRoom(room);
      selectRoom(room);
      saveRooms();
      logRoom(`joined #${room}`);
    },
    (e) => logRoom(`joining #${room} ${e.frame ? "refused" : "failed"}: ${e.code}`, true));
}

function leaveRoom() {
  const room = $("room-name").value.trim() || selectedRoom;
  if (!client || client.state !== "open" || !room) return;
  const known = rooms.has(room);
  removeRoom(room);  // the client forgets it at once: it will not be joined again
  saveRooms();
  roomRequest(client.leave(room)).then(
    () => logRoom(`left #${room}`),
    (e) => logRoom(known ? `leaving #${room}: ${e.code}` : `#${room}: ${e.code}`, true));
}

function setPublishStatus(li, ack) {
  let status = ack.status;
  let text = status;
  if (status === "delivered") {
    text = `delivered to ${ack.sessions} session${ack.sessions === 1 ? "" : "s"}`;
  } else if (status === "no_members") {
    text = "no other members";
  } else if (status === "failed" && ack.reason) {
    text = `failed (${ack.reason})`;
  }
  if (ack.sessions !== undefined) li.dataset.sessions = String(ack.sessions);
  setStatus(li, status, ack.reason || `message ${ack.id}`);
  li.querySelector(".status").textContent = text;
}

function publish(event) {
  event.preventDefault();
  const text = $("room-body").value;
  if (!client || client.state !== "open" || !text.trim()) return;
  const room = selectedRoom;
  if (!room) {
    logRoom("join a room and select it first", true);
    $("room-name").focus();
    return;
  }
  const li = el("li", "msg out");
  li.dataset.testid = "room-msg-out";
  li.dataset.room = room;
  li.append(el("span", "meta", `#${room} · ${time(Date.now())}`), el("span", "text", text), el("span", "status"));
  setStatus(li, "pending");
  addLogItem(li, $("room-log"));
  $("room-body").value = "";
  roomRequest(client.publish(room, { text })).then(
    (ack) => setPublishStatus(li, ack),
    (e) => {
      // refused by the server (not_joined, not_allowed, ...) or no answer (timeout, disconnected)
      setStatus(li, e.frame ? "refused" : "failed", e.message);
      li.querySelector(".status").textContent = `${e.frame ? "refused" : "failed"} (${e.code})`;
    });
}

function onRoomMessage(m) {
  const li = el("li", "msg in");
  li.dataset.testid = "room-msg-in";
  li.dataset.room = m.room;
  li.dataset.from = m.from;
  li.append(el("span", "meta", `#${m.room} · ${m.from} · ${time(m.ts)}`), el("span", "text", bodyText(m.body)));
  addLogItem(li, $("room-log"));
}

function onNotice(n) {
  const what = n.event === "join" ? "joined" : n.event === "leave" ? "left" : n.event;
  const li = el("li", "sys notice", `${n.user} ${what} #${n.room} · ${time(n.ts)}`);
  li.dataset.testid = "room-notice";
  li.dataset.room = n.room;
  li.dataset.event = n.event;
  li.dataset.user = n.user;
  addLogItem(li, $("room-log"));
  if (n.room === selectedRoom && membersShown.room === n.room) refreshMembers(false);
}

function onRejoin(r) {
  if (r.ack) {
    setRoomState(r.room, "joined");
    logRoom(`rejoined #${r.room}`);
    if (r.room === selectedRoom) refreshMembers(false);
  } else if (r.dropped) {
    removeRoom(r.room);
    saveRooms();
    logRoom(`rejoining #${r.room} refused: ${r.error.code}`, true);
  } else {
    logRoom(`rejoining #${r.room}: ${r.error.code} (tried again on the next reconnect)`, true);
  }
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
    if (s.state === "closed") clearRooms();  // close() ends the memberships, the client forgets them
    else if (s.state !== "open") for (const room of rooms.keys()) setRoomState(room, "rejoining");
  });
  client.on("welcome", (w) => {
    logSystem(`connected to ${w.node} as ${w.user}`);
    for (const name of load(`contacts:${w.user}`, [])) addContact(name);
    startPresence();
    // rooms saved by an earlier visit (those of this client are joined again by the client itself)
    for (const room of load(`rooms:${w.user}`, [])) {
      if (ROOM_NAME.test(room) && !client.rooms.includes(room)) joinRoom(room);
    }
  });
  client.on("roommessage", onRoomMessage);
  client.on("notice", onNotice);
  client.on("rejoin", onRejoin);
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
  client.on("error", (e) => {
    if (e.ref !== undefined && roomRequests.has(e.ref)) return;  // the room log reports it
    logSystem(`refused: ${e.code} (${e.message})`, true);
  });
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
  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const room = $("room-name").value.trim();
    if (!ROOM_NAME.test(room)) {
      logRoom(`"${room}" is not a room name (1 to 128 of A-Z a-z 0-9 . _ @ : / -)`, true);
      $("room-name").focus();
      return;
    }
    joinRoom(room);
  });
  $("leave").addEventListener("click", leaveRoom);
  $("publish-form").addEventListener("submit", publish);
  $("refresh-members").addEventListener("click", () => refreshMembers(false));
  $("more-members").addEventListener("click", () => refreshMembers(true));
  document.body.dataset.ready = "true";  // the module ran: the browser test waits for this
}

start();
