#!/usr/bin/env node
// The peer in the comparison (docs/benchmarks.md, target 2): a Socket.IO server doing wsg's
// user-to-user workload, scaled out over Redis with @socket.io/redis-adapter.
//
//   node server.js PORT REDIS_URL [NAME]      (or the env PORT, REDIS_URL, SERVER_NAME)
//
// A client connects with ?user=ID (the handshake query, or auth.user) over the websocket
// transport and joins the room ID; it gets a `welcome` {user}. On `send` {to, body} the server
// emits `message` {id, from, to, body, ts} to the room `to`: through the adapter, so a recipient
// connected to another server gets it too (the Redis pub/sub broadcast).
//
// Rooms (client.js --room): `join` {room} puts the socket in the Socket.IO room "#" + room (a
// name no user id can take) and answers through the emit's ack callback {status: "joined", room};
// the adapter sends every broadcast to every server, so the join is effective at once. `publish`
// {room, body} from a member (else {status: "failed", code: "not_joined"}) emits `message`
// {room, id, from, body, ts} with socket.to("#" + room): to every member on every server but the
// publisher itself, then acks {status: "delivered", id, room}. `leave` {room} undoes a join.
// Port 0 picks a free port. The bound address is printed as `listening 127.0.0.1:PORT`. SIGINT/SIGTERM stop it.
'use strict';

const http = require('node:http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const USER_RE = /^[A-Za-z0-9._@:-]{1,128}$/;
const ROOM_RE = /^[A-Za-z0-9._@:/-]{1,128}$/;

async function main() {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
  const redisUrl = process.argv[3] ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const name = process.argv[4] ?? process.env.SERVER_NAME ?? `sio-${process.pid}`;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`server.js: bad port ${process.argv[2]}`);
    process.exit(2);
  }

  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on('error', (e) => console.error(`server.js ${name}: redis: ${e.message}`));
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer((req, res) => {
    res.writeHead(404).end();
  });
  const io = new Server(httpServer, {
    transports: ['websocket'],
    serveClient: false,
    adapter: createAdapter(pub, sub),
  });

  let seq = 0;
  io.on('connection', (socket) => {
    const q = socket.handshake.query.user;
    const user = typeof q === 'string' ? q : socket.handshake.auth?.user;
    if (typeof user !== 'string' || !USER_RE.test(user)) {
      socket.emit('error_frame', { code: 'bad_recipient', message: 'missing or invalid user' });
      socket.disconnect(true);
      return;
    }
    socket.join(user);
    socket.emit('welcome', { user, session: socket.id, node: name });
    socket.on('send', (m) => {
      if (m === null || typeof m !== 'object' || typeof m.to !== 'string' || !USER_RE.test(m.to)) {
        socket.emit('error_frame', { code: 'bad_request', message: 'send needs to and body' });
        return;
      }
      seq += 1;
      io.to(m.to).emit('message', { id: `${name}-${seq}`, from: user, to: m.to, body: m.body, ts: Date.now() });
    });
    const roomOf = (m, ack) => {
      if (m === null || typeof m !== 'object' || typeof m.room !== 'string' || !ROOM_RE.test(m.room)) {
        ack({ status: 'failed', code: 'bad_room' });
        return null;
      }
      return m.room;
    };
    const callback = (cb) => (typeof cb === 'function' ? cb : () => {});
    socket.on('join', (m, cb) => {
      const ack = callback(cb);
      const room = roomOf(m, ack);
      if (room === null) return;
      socket.join('#' + room);
      ack({ status: 'joined', room });
    });
    socket.on('leave', (m, cb) => {
      const ack = callback(cb);
      const room = roomOf(m, ack);
      if (room === null) return;
      socket.leave('#' + room);
      ack({ status: 'left', room });
    });
    socket.on('publish', (m, cb) => {
      const ack = callback(cb);
      const room = roomOf(m, ack);
      if (room === null) return;
      if (!socket.rooms.has('#' + room)) {
        ack({ status: 'failed', code: 'not_joined' });
        return;
      }
      seq += 1;
      const id = `${name}-${seq}`;
      socket.to('#' + room).emit('message', { room, id, from: user, body: m.body, ts: Date.now() });
      ack({ status: 'delivered', id, room });
    });
  });

  httpServer.listen(port, '127.0.0.1', () => {
    console.log(`listening 127.0.0.1:${httpServer.address().port}`);
  });

  const stop = () => {
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  console.error(`server.js: ${e.stack || e}`);
  process.exit(1);
});
