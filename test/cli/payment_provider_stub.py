#!/usr/bin/env python3
"""A payment provider stand-in for the bank.payments tests (examples/bank/README.md): listens on
127.0.0.1 on a port the OS chooses, prints that port on stdout, and serves
POST .../payments/{payment_id}/confirm, one thread per connection.

Each confirmation is recorded in RECORD_FILE, one line when it arrives and one when it is
answered:  "received PAYMENT_ID"  and  "answered PAYMENT_ID STATUS".
The first FAIL_FIRST confirmations of each payment are answered 503, later ones 200
{"confirmed":true}. While the file SLOW_WHILE exists, a confirmation is answered only once it
is gone (a provider that holds its answers: the bank's jobs stay in flight). Anything else is
404. Usage: payment_provider_stub.py RECORD_FILE [FAIL_FIRST [SLOW_WHILE]]"""
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

record_file = sys.argv[1]
fail_first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
slow_while = sys.argv[3] if len(sys.argv) > 3 else ""
confirm_path = re.compile(r"^(?:/.*)?/payments/([^/]+)/confirm$")
lock = threading.Lock()
seen = {}


def record(line):
    with lock:
        with open(record_file, "a") as f:
            f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        if length:
            self.rfile.read(length)
        match = confirm_path.match(self.path)
        if match is None:
            return self.answer(404, {"error": "no_route", "message": self.path})
        payment = match.group(1)
        record("received " + payment)
        with lock:
            seen[payment] = seen.get(payment, 0) + 1
            n = seen[payment]
        while slow_while and os.path.exists(slow_while):
            time.sleep(0.05)
        status = 503 if n <= fail_first else 200
        record(f"answered {payment} {status}")
        if status == 503:
            return self.answer(503, {"error": "unavailable", "message": "try again later"})
        return self.answer(200, {"confirmed": True, "payment_id": payment})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
