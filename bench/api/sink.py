#!/usr/bin/env python3
"""bench/api: WebSocket sessions that count what they receive. Connects one session per URL given
(user and room from the URL's query and --room), waits for each welcome (and the join ack with
--room), prints "ready", then counts `message` frames until SECONDS passed and prints
"received N". Bounded: exits after --seconds whatever happens."""
import argparse
import asyncio
import json

import websockets


async def session(url, room, counts, ready):
    async with websockets.connect(url, max_size=None) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        if room:
            await ws.send(json.dumps({"type": "join", "room": room, "id": "j"}))
            while json.loads(await ws.recv()).get("status") != "joined":
                pass
        ready.append(1)
        async for frame in ws:
            if '"type":"message"' in frame:
                counts[0] += 1


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--room", default="")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("urls", nargs="+")
    a = p.parse_args()
    counts, ready = [0], []
    tasks = [asyncio.create_task(session(u, a.room, counts, ready)) for u in a.urls]
    for _ in range(200):
        if len(ready) == len(a.urls):
            break
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    await asyncio.sleep(a.seconds)
    print("received", counts[0], flush=True)
    for t in tasks:
        t.cancel()


asyncio.run(main())
