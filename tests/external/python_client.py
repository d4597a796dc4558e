#!/usr/bin/python3
"""A client outside the project: Debian's python3-websockets (asyncio API).

Connects alice to node 1 and bob to node 2, checks both welcomes, exchanges one message each way
with ids and checks the acks and the message frames exactly as docs/protocol.md shows them.

    /usr/bin/python3 tests/external/python_client.py --node1 ws://127.0.0.1:8080 --node2 ws://127.0.0.1:8081

Exit status: 0 when every check passed, 1 when one failed, 2 on a usage or environment problem.
"""

import argparse
import asyncio
import json
import sys
import time

try:
    import websockets
except ImportError as e:  # pragma: no cover - environment problem, reported as such
    print(f"FAIL: cannot import websockets ({e}); install python3-websockets", file=sys.stderr)
    sys.exit(2)

TIMEOUT = 5.0
CHECKS = []


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)
    CHECKS.append(what)
    print(f"ok: {what}")


async def recv_json(ws, who):
    try:
        raw = await asyncio.wait_for(ws.recv(), TIMEOUT)
    except asyncio.TimeoutError:
        raise CheckFailed(f"{who}: no frame within {TIMEOUT} s")
    check(isinstance(raw, str), f"{who}: frame is a text frame")
    try:
        frame = json.loads(raw)
    except ValueError:
        raise CheckFailed(f"{who}: frame is not JSON: {raw!r}")
    check(isinstance(frame, dict), f"{who}: frame is a JSON object: {raw}")
    return frame


def check_keys(frame, keys, what):
    check(set(frame) == set(keys), f"{what} has exactly the keys {sorted(keys)} (got {sorted(frame)})")


def check_welcome(frame, user, node_id):
    check_keys(frame, ["type", "user", "session", "node"], f"welcome for {user}")
    check(frame["type"] == "welcome", f"welcome for {user}: type is welcome")
    check(frame["user"] == user, f"welcome for {user}: user is {user}")
    check(isinstance(frame["session"], str) and frame["session"] != "",
          f"welcome for {user}: session is a non-empty string")
    if node_id:
        check(frame["node"] == node_id, f"welcome for {user}: node is {node_id}")
    else:
        check(isinstance(frame["node"], str) and frame["node"] != "",
              f"welcome for {user}: node is a non-empty string")


async def one_way(sender, sender_name, receiver, receiver_name, body, cid):
    t0 = int(time.time() * 1000)
    await sender.send(json.dumps({"type": "send", "to": receiver_name, "body": body, "id": cid}))
    msg = await recv_json(receiver, receiver_name)
    t1 = int(time.time() * 1000)
    what = f"message {sender_name}->{receiver_name}"
    check_keys(msg, ["type", "id", "from", "to", "body", "ts"], what)
    check(msg["type"] == "message", f"{what}: type is message")
    check(isinstance(msg["id"], str) and msg["id"] != "", f"{what}: id is a non-empty string")
    check(msg["from"] == sender_name, f"{what}: from is {sender_name}")
    check(msg["to"] == receiver_name, f"{what}: to is {receiver_name}")
    check(msg["body"] == body, f"{what}: body is {json.dumps(body)}")
    check(isinstance(msg["ts"], int) and not isinstance(msg["ts"], bool),
          f"{what}: ts is an integer")
    check(t0 - 1000 <= msg["ts"] <= t1 + 1000, f"{what}: ts ({msg['ts']}) is the send time in unix ms")

    ack = await recv_json(sender, sender_name)
    what = f"ack for {cid}"
    check_keys(ack, ["type", "ref", "id", "status"], what)
    check(ack["type"] == "ack", f"{what}: type is ack")
    check(ack["ref"] == cid, f"{what}: ref is {cid}")
    check(ack["id"] == msg["id"], f"{what}: id is the message id {msg['id']}")
    check(ack["status"] == "delivered", f"{what}: status is delivered")
    return msg


async def run(args):
    url1 = args.node1.rstrip("/") + "/ws?user=alice"
    url2 = args.node2.rstrip("/") + "/ws?user=bob"
    async with websockets.connect(url1, open_timeout=TIMEOUT, close_timeout=2) as alice, \
            websockets.connect(url2, open_timeout=TIMEOUT, close_timeout=2) as bob:
        check_welcome(await recv_json(alice, "alice"), "alice", args.node1_id)
        check_welcome(await recv_json(bob, "bob"), "bob", args.node2_id)

        m1 = await one_way(alice, "alice", bob, "bob", {"text": "hello bob", "n": 1, "tags": ["a", "b"]}, "a1")
        m2 = await one_way(bob, "bob", alice, "alice", "hello alice \u2713", "b1")
        check(m1["id"] != m2["id"], "message ids differ")

        await alice.send(json.dumps({"type": "ping", "id": "p1"}))
        pong = await recv_json(alice, "alice")
        check(pong == {"type": "pong", "ref": "p1"}, 'ping answered with {"type":"pong","ref":"p1"}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node1", required=True, help="ws://HOST:PORT of node 1")
    parser.add_argument("--node2", required=True, help="ws://HOST:PORT of node 2")
    parser.add_argument("--node1-id", default="node-1", help="expected node id of node 1 ('' to skip)")
    parser.add_argument("--node2-id", default="node-2", help="expected node id of node 2 ('' to skip)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, websockets {websockets.__version__}")
    try:
        asyncio.run(run(args))
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as e:
        print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"PASS: {len(CHECKS)} checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
