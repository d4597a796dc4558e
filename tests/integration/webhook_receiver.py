#!/usr/bin/env python3
"""A webhook receiver for tests/integration/webhooks_test.cpp: answers POSTs on 127.0.0.1:PORT and
writes one JSON line per request to OUT (flushed at once): the status it answered, whether the
X-Wsg-Signature header is the HMAC-SHA256 of "TIMESTAMP.BODY" under SECRET, and the parsed body.
--fail N answers 500 to the first N requests (and records them too). --cert FILE --key FILE serve
HTTPS instead (the listening socket wrapped in a server SSLContext); a client that fails the
handshake is dropped and nothing is recorded."""
import argparse
import hashlib
import hmac
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
count = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        count += 1
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ts = self.headers.get("X-Wsg-Timestamp", "")
        sig = self.headers.get("X-Wsg-Signature", "")
        want = hmac.new(args.secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        status = 500 if count <= args.fail else 200
        record = {"status": status, "sig_ok": hmac.compare_digest(sig, want),
                  "content_type": self.headers.get("Content-Type", ""), "events": json.loads(body)}
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--fail", type=int, default=0)
    p.add_argument("--cert")
    p.add_argument("--key")
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
