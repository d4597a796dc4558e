#!/usr/bin/env node
// The strongest peer in the comparison (docs/benchmarks.md): uWebSockets.js, scaled out over Redis
// pub/sub, doing wsg's user-to-user workload and speaking the part of wsg's client protocol the
// load generator uses, so that one client (`wsg-bench`) drives wsg, the floor and this peer alike.
//
//   node uws_server.js PORT REDIS_URL [NAME]      (or the env PORT, REDIS_URL, SERVER_NAME)
//
// A client upgrades on /ws?user=ID and gets {"type":"welcome","user","session","node"}. On a text
// frame {"type":"send","to","body"[,"id"]} the server builds the message frame
// {"type":"message","id","from","to","body","ts"} once and publishes it on the Redis channel of
// the recipient ("u:" + to); every server subscribes to the channels of the users it holds (on a
// user's first session, unsubscribing after the last) and hands what arrives to uWebSockets.js's
// own topic of that user, which writes it to each of the user's local sessions. With "id" the
// sender gets {"type":"ack","ref":id,"status":"delivered"} once Redis has taken the message (what
// Redis can say: it does not know whether any server held the recipient). A malformed frame gets
// {"type":"error","code":"bad_request"}. This is what a team building on uWebSockets.js + Redis
// would write: per-user channels, so that a server receives only the messages of its own users.
//
// Rooms, for `wsg-bench room` (wsg's join and publish frames, docs/protocol.md): {"type":"join",
// "room","id"} subscribes the session to uWebSockets.js's topic "r:" + room and, on the room's first
// member here, the server to the Redis channel of the same name; the ack {"type":"ack","ref",
// "status":"joined","room"} follows once Redis confirmed the subscription, so that every publish
// sent after it reaches the member (as wsg promises). {"type":"publish","room","body","id"} from a
// member (else an error not_joined) builds the message frame {"type":"message","room","id","from",
// "body","ts"} once, hands it to the local members but the publisher (ws.publish excludes its own
// socket) and publishes it on Redis prefixed with this server's name; each server hands what comes
// from Redis to its local members, skipping its own. The publisher's ack {"type":"ack","ref","id",
// "status":"delivered","room"} follows once Redis took the message (no "sessions": the other
// servers' counts are not known here). {"type":"leave","room","id"} undoes a join. No "echo".
//
// Port 0 picks a free port; the bound address is printed as `listening 127.0.0.1:PORT`.
// Frames are bounded (64 KiB, wsg's default limits.max_message_bytes) and so is a session's
// backpressure (1 MiB, wsg's limits.send_queue_bytes: past it, uWebSockets.js closes the session).
// SIGINT/SIGTERM stop it.
'use strict';

const uWS = require('@trufflesuite/uws-js-unofficial');
const { createClient } = require('redis');

const USER_RE = /^[A-Za-z0-9._@:-]{1,128}$/;
const ROOM_RE = /^[A-Za-z0-9._@:/-]{1,128}$/;
const decoder = new TextDecoder();

async function main() {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
  const redisUrl = process.argv[3] ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const name = process.argv[4] ?? process.env.SERVER_NAME ?? `uws-${process.pid}`;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`uws_server.js: bad port ${process.argv[2]}`);
    process.exit(2);
  }

  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on('error', (e) => console.error(`uws_server.js ${name}: redis: ${e.message}`));
  await Promise.all([pub.connect(), sub.connect()]);

  const app = uWS.App();
  const local = new Map(); // user -> number of sessions here
  let seq = 0;
  let sessions = 0;

  const onChannel = (message, channel) => {
    // channel is "u:" + user; uWebSockets.js's topic of the same name holds the user's sessions.
    app.publish(channel, message, false);
  };

  // Rooms: room -> {count: local member sessions, ready: the Redis subscription (a promise)}.
  const rooms = new Map();
  const onRoomChannel = (message, channel) => {
    // "ORIGIN\nFRAME": the origin's own members got it already, without the publisher.
    const nl = message.indexOf('\n');
    if (nl < 0 || message.slice(0, nl) === name) return;
    app.publish(channel, message.slice(nl + 1), false);
  };
  const answer = (ws, frame) => {
    if (!ws.getUserData().closed) ws.send(JSON.stringify(frame), false);
  };
  const error = (ws, code, message, ref) => {
    const e = { type: 'error', code, message };
    if (ref !== null) e.ref = ref;
    answer(ws, e);
  };
  const leaveRoom = (room) => {
    const entry = rooms.get(room);
    if (!entry) return;
    entry.count -= 1;
    if (entry.count <= 0) {
      rooms.delete(room);
      sub.unsubscribe('r:' + room, onRoomChannel).catch(() => {});
    }
  };
  const onRoomFrame = (ws, m) => {
    const data = ws.getUserData();
    const ref = typeof m.id === 'string' ? m.id : null;
    if (typeof m.room !== 'string' || !ROOM_RE.test(m.room)) {
      error(ws, 'bad_room', 'room names are 1..128 bytes of [A-Za-z0-9._@:/-]', ref);
      return;
    }
    const room = m.room;
    const topic = 'r:' + room;
    if (m.type === 'join') {
      let entry = rooms.get(room);
      if (!data.rooms.has(room)) {
        data.rooms.add(room);
        ws.subscribe(topic);
        if (!entry) {
          entry = { count: 0, ready: sub.subscribe(topic, onRoomChannel) };
          rooms.set(room, entry);
        }
        entry.count += 1;
      }
      entry.ready.then(
        () => { if (ref !== null) answer(ws, { type: 'ack', ref, status: 'joined', room }); },
        (e) => error(ws, 'internal', `subscribe: ${e.message}`, ref),
      );
    } else if (m.type === 'leave') {
      if (data.rooms.delete(room)) {
        ws.unsubscribe(topic);
        leaveRoom(room);
      }
      if (ref !== null) answer(ws, { type: 'ack', ref, status: 'left', room });
    } else {
      if (!data.rooms.has(room)) {
        error(ws, 'not_joined', 'publish needs a join first', ref);
        return;
      }
      if (!('body' in m)) {
        error(ws, 'bad_request', 'publish needs room and body', ref);
        return;
      }
      seq += 1;
      const id = `${name}-${seq}`;
      const frame = JSON.stringify({ type: 'message', room, id, from: data.user, body: m.body, ts: Date.now() });
      ws.publish(topic, frame, false);
      pub.publish(topic, name + '\n' + frame).then(
        () => { if (ref !== null) answer(ws, { type: 'ack', ref, id, status: 'delivered', room }); },
        (e) => { if (ref !== null) answer(ws, { type: 'ack', ref, id, status: 'failed', room, reason: String(e.message) }); },
      );
    }
  };

  app.ws('/ws', {
    compression: uWS.DISABLED,
    maxPayloadLength: 64 * 1024,
    maxBackpressure: 1024 * 1024,
    closeOnBackpressureLimit: true,
    idleTimeout: 0,
    upgrade: (res, req, context) => {
      const user = new URLSearchParams(req.getQuery() || '').get('user');
      if (typeof user !== 'string' || !USER_RE.test(user)) {
        res.writeStatus('400 Bad Request').end('missing or invalid user\n');
        return;
      }
      res.upgrade(
        { user },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      const { user } = ws.getUserData();
      const topic = 'u:' + user;
      ws.subscribe(topic);
      const n = (local.get(user) || 0) + 1;
      local.set(user, n);
      sessions += 1;
      ws.getUserData().session = `${name}-s${sessions}`;
      ws.getUserData().rooms = new Set();
      if (n === 1) {
        sub.subscribe(topic, onChannel).catch((e) => console.error(`uws_server.js ${name}: subscribe: ${e.message}`));
      }
      ws.send(JSON.stringify({ type: 'welcome', user, session: ws.getUserData().session, node: name }), false);
    },
    message: (ws, data, isBinary) => {
      const { user } = ws.getUserData();
      let m;
      try {
        m = isBinary ? null : JSON.parse(decoder.decode(data));
      } catch {
        m = null;
      }
      if (m !== null && typeof m === 'object' && (m.type === 'join' || m.type === 'leave' || m.type === 'publish')) {
        onRoomFrame(ws, m);
        return;
      }
      if (m === null || typeof m !== 'object' || m.type !== 'send' || typeof m.to !== 'string' ||
          !USER_RE.test(m.to) || !('body' in m)) {
        ws.send('{"type":"error","code":"bad_request","message":"send needs to and body"}', false);
        return;
      }
      seq += 1;
      const frame = JSON.stringify({ type: 'message', id: `${name}-${seq}`, from: user, to: m.to, body: m.body,
                                     ts: Date.now() });
      const ref = typeof m.id === 'string' ? m.id : null;
      pub.publish('u:' + m.to, frame).then(
        () => {
          if (ref !== null && !ws.getUserData().closed) {
            ws.send(JSON.stringify({ type: 'ack', ref, status: 'delivered' }), false);
          }
        },
        (e) => {
          if (ref !== null && !ws.getUserData().closed) {
            ws.send(JSON.stringify({ type: 'ack', ref, status: 'failed', reason: String(e.message) }), false);
          }
        },
      );
    },
    close: (ws) => {
      const data = ws.getUserData();
      data.closed = true;
      for (const room of data.rooms) leaveRoom(room);  // uWebSockets.js unsubscribed the socket itself
      const n = (local.get(data.user) || 1) - 1;
      if (n <= 0) {
        local.delete(data.user);
        sub.unsubscribe('u:' + data.user, onChannel).catch(() => {});
      } else {
        local.set(data.user, n);
      }
    },
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end();
  });

  let listenSocket = null;
  app.listen('127.0.0.1', port, (token) => {
    if (!token) {
      console.error(`uws_server.js ${name}: cannot listen on 127.0.0.1:${port}`);
      process.exit(2);
    }
    listenSocket = token;
    console.log(`listening 127.0.0.1:${uWS.us_socket_local_port(token)}`);
  });

  const stop = () => {
    if (listenSocket) uWS.us_listen_socket_close(listenSocket);
    Promise.allSettled([pub.quit(), sub.quit()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  console.error(`uws_server.js: ${e.stack || e}`);
  process.exit(1);
});
