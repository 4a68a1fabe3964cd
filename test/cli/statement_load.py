#!/usr/bin/env python3
"""Continuous HTTP load on one route, for the tests that replace a module while it serves.

Usage: statement_load.py PORT PATH OUT [--clients N] [--deposit DEPOSIT_PATH]

N threads (4 by default) each keep one HTTP/1.1 connection to 127.0.0.1:PORT and send
`GET PATH` on it back to back, until the process gets SIGTERM or SIGINT. With --deposit, one more
thread sends `POST DEPOSIT_PATH` with {"amount":1} back to back the same way, so that what PATH
answers keeps changing. Every request, answered or not, adds one line to OUT as soon as it ends:

    START END get STATUS FORMAT VERSION   an answer to a GET (STATUS is its HTTP status; FORMAT
                                          and VERSION are the statement's "format" and
                                          "version" fields, "-" when the body has none)
    START END deposit STATUS - -          an answer to a deposit
    ... BODY                              after either, when STATUS is not 2xx: the start of
                                          the body
    START END KIND error WHAT             no answer: the connection failed, closed or timed
                                          out (the thread opens a new connection and goes on)

START and END are the request's wall-clock times (seconds since the epoch, as `date +%s.%N`
gives them), so a test can tell which requests were in flight while it did something. The
process exits 0 once every thread has finished its last request.
"""
import argparse
import http.client
import json
import signal
import sys
import threading
import time


def main():
    parser = argparse.ArgumentParser(description="Continuous HTTP load on one route.")
    parser.add_argument("port", type=int)
    parser.add_argument("path")
    parser.add_argument("out")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--deposit")
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    out = open(args.out, "a", buffering=1)
    lock = threading.Lock()

    def record(line):
        with lock:
            out.write(line + "\n")

    def client(kind, verb, path, body):
        headers = {"content-type": "application/json"} if body else {}
        conn = None
        while not stop.is_set():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
            start = time.time()
            try:
                conn.request(verb, path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                end = time.time()
                fields = {}
                try:
                    fields = json.loads(data)
                except ValueError:
                    pass
                if not isinstance(fields, dict):
                    fields = {}
                line = "%.6f %.6f %s %d %s %s" % (start, end, kind, answer.status,
                                                  fields.get("format") or "-",
                                                  fields.get("version") or "-")
                if answer.status >= 300:
                    line += " " + data[:300].decode("utf-8", "replace").replace("\n", " ")
                record(line)
                if answer.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                end = time.time()
                what = (type(e).__name__ + ": " + str(e)).replace("\n", " ")
                record("%.6f %.6f %s error %s" % (start, end, kind, what))
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, args=("get", "GET", args.path, None))
               for _ in range(args.clients)]
    if args.deposit:
        threads.append(threading.Thread(target=client, args=("deposit", "POST", args.deposit,
                                                             '{"amount":1}')))
    for t in threads:
        t.start()
    while not stop.is_set():
        stop.wait(0.1)
    for t in threads:
        t.join()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
