#!/usr/bin/env python3
"""bench/api: a webhook receiver that counts events (answers 200 at once) and prints
"listening 127.0.0.1:PORT", then on SIGTERM "events N posts P"."""
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

events = posts = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global events, posts
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        n = len(json.loads(body))
        with lock:
            events += n
            posts += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("listening 127.0.0.1:%d" % server.server_address[1], flush=True)


def stop(*_):
    print("events", events, "posts", posts, flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
server.serve_forever()
