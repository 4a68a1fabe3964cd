#!/usr/bin/env python3
"""Clients of an HTTPS gateway for run_https.sh, with the standard library only; each trusts the
certificate file it is given (and nothing else) and checks that it names 127.0.0.1.

  https_clients.py wss PORT CAFILE ACCOUNT
      A WebSocket over TLS (wss) on /ws: subscribes to "balances", deposits 25 into ACCOUNT over
      HTTPS, and prints the first frame about ACCOUNT's balance. Exit 1 on anything else.
  https_clients.py keepalive PORT CAFILE READY GO
      One HTTPS keep-alive connection: a first GET /healthz, then writes the SHA-256 fingerprint of
      the certificate it was served into the file READY, waits (at most 60 s) for the file GO, and
      sends a second GET /healthz on the same connection. Prints "kept FINGERPRINT" when the
      second request was answered on the same connection. Exit 1 on anything else.
Every wait is bounded (socket timeouts of 10 s)."""
import base64
import hashlib
import http.client
import json
import os
import socket
import ssl
import struct
import sys
import time


def context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def fingerprint(sock):
    digest = hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def ws_send(sock, text):
    data = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    if len(data) < 126:
        head += bytes([0x80 | len(data)])
    else:
        head += bytes([0x80 | 126]) + struct.pack("!H", len(data))
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def read_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise RuntimeError("the gateway closed the WebSocket")
        out += chunk
    return out


def ws_read(sock):
    b1, b2 = read_exact(sock, 2)
    length = b2 & 0x7F
    if length == 126:
        length = struct.unpack("!H", read_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", read_exact(sock, 8))[0]
    payload = read_exact(sock, length)
    if b1 & 0x0F == 0x8:
        raise RuntimeError("the gateway closed the WebSocket")
    if b1 & 0x0F != 0x1:
        return ws_read(sock)  # a ping or another control frame: the next one
    return payload.decode()


def wss(port, cafile, account):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock = context(cafile).wrap_socket(raw, server_hostname="127.0.0.1")
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += read_exact(sock, 1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"the upgrade was answered {head!r}")
    ws_send(sock, json.dumps({"subscribe": "balances"}))
    ack = ws_read(sock)
    if json.loads(ack) != {"subscribed": "balances"}:
        raise RuntimeError(f"subscribing was answered {ack}")
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context(cafile), timeout=10)
    conn.request("POST", f"/accounts/{account}/deposit", body=json.dumps({"amount": 25}),
                 headers={"Content-Type": "application/json"})
    answer = conn.getresponse()
    if answer.status != 200:
        raise RuntimeError(f"the deposit was answered {answer.status}: {answer.read()!r}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        frame = ws_read(sock)
        if account in frame:
            print(frame)
            return
    raise RuntimeError("no balance frame for the account")


def keepalive(port, cafile, ready, go):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context(cafile), timeout=10)
    conn.request("GET", "/healthz")
    first = conn.getresponse()
    first.read()
    if first.status != 200:
        raise RuntimeError(f"the first request was answered {first.status}")
    sock = conn.sock
    served = fingerprint(sock)
    with open(ready + ".tmp", "w") as f:
        f.write(served + "\n")
    os.rename(ready + ".tmp", ready)
    deadline = time.monotonic() + 60
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise RuntimeError("no go file within 60 s")
        time.sleep(0.05)
    conn.request("GET", "/healthz")
    second = conn.getresponse()
    second.read()
    if second.status != 200:
        raise RuntimeError(f"the second request was answered {second.status}")
    if conn.sock is not sock:
        raise RuntimeError("the second request went over a new connection")
    print("kept " + fingerprint(sock))


def main():
    try:
        if sys.argv[1] == "wss":
            wss(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        elif sys.argv[1] == "keepalive":
            keepalive(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
        else:
            raise RuntimeError(f"unknown client {sys.argv[1]}")
    except Exception as e:  # the shell test prints it
        print(f"https_clients.py {sys.argv[1]}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
