#!/usr/bin/env python3
"""The self-test of browser_driver.py: a page served from 127.0.0.1 (port chosen by the OS)
whose script fetches a value after a delay and writes it into the page; the driver waits for
the change, reads it, fails a wait that cannot succeed with a message naming the expression and
showing the page's text, takes a screenshot (a valid PNG of the window's size), and leaves no
Chromium process or temp folder behind. Its own deadline: 90 s."""

import http.server
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser_driver import Browser, BrowserError  # noqa: E402

PAGE = b"""<!doctype html>
<html><head><title>driver self-test</title></head>
<body style="background:#fff">
<h1 id="status">waiting</h1>
<script>
setTimeout(function () {
  fetch("/value").then(function (r) { return r.text(); }).then(function (v) {
    document.getElementById("status").textContent = "loaded " + v;
    document.body.style.background = "#2a6";
  });
}, 300);
</script>
</body></html>"""


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/":
            body, kind = PAGE, "text/html"
        elif self.path == "/value":
            body, kind = b"42", "text/plain"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def check_png(path, width, height):
    """Fails unless `path` is a PNG of width x height whose chunks' CRCs hold."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature: %r" % data[:8]
    pos, chunks = 8, []
    while pos < len(data):
        (n,) = struct.unpack("!I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack("!I", data[pos + 8 + n:pos + 12 + n])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, "bad CRC in chunk %r" % kind
        chunks.append((kind, body))
        pos += 12 + n
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND", [c[0] for c in chunks]
    w, h = struct.unpack("!II", chunks[0][1][:8])
    assert (w, h) == (width, height), "screenshot is %dx%d, not %dx%d" % (w, h, width, height)
    assert sum(len(b) for k, b in chunks if k == b"IDAT") > 0, "no image data"


def chromium_processes_of(user_data_dir):
    """Pids of processes whose command line names `user_data_dir`."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if user_data_dir.encode() in f.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


def main():
    signal.alarm(90)  # a stuck run fails by itself (SIGALRM's default ends the process)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/" % server.server_address[1]
    shot = os.path.join(tempfile.mkdtemp(prefix="microlith-driver-test-"), "page.png")
    try:
        with Browser(window=(1280, 800)) as b:
            user_data_dir = b._dir
            b.navigate(url)
            assert b.evaluate("document.title") == "driver self-test"
            assert b.evaluate("1 + 2") == 3
            assert b.evaluate("Promise.resolve({a: [1, 'x']})") == {"a": [1, "x"]}
            start = time.monotonic()
            value = b.wait_for(
                "document.getElementById('status').textContent.startsWith('loaded')"
                " && document.getElementById('status').textContent", timeout=10)
            assert value == "loaded 42", value
            assert time.monotonic() - start < 10
            assert "loaded 42" in b.text()
            try:
                b.evaluate("no_such_name.x")
                raise AssertionError("a throwing expression did not fail")
            except BrowserError as e:
                assert "no_such_name" in str(e), str(e)
            try:
                b.wait_for("document.title == 'never'", timeout=0.5)
                raise AssertionError("an impossible wait did not fail")
            except BrowserError as e:
                message = str(e)
                assert "document.title == 'never'" in message, message
                assert "loaded 42" in message, message  # the page's text
            size = b.screenshot(shot)
            assert size > 1000, size
            check_png(shot, 1280, 800)
            assert chromium_processes_of(user_data_dir), "no chromium running with its folder"
        # Closed: no process left with its folder, and the folder gone.
        deadline = time.monotonic() + 10
        while chromium_processes_of(user_data_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not chromium_processes_of(user_data_dir), chromium_processes_of(user_data_dir)
        assert not os.path.exists(user_data_dir), user_data_dir
        check_cli(url, shot)
    finally:
        server.shutdown()
        try:
            os.remove(shot)
            os.rmdir(os.path.dirname(shot))
        except OSError:
            pass
    print("browser driver self-test: ok")
    return 0


def check_cli(url, shot):
    """The command line: steps in order, eval's JSON, a failed wait's exit code and message."""
    driver = os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser_driver.py")
    done = subprocess.run(
        [sys.executable, driver, "navigate", url, "wait",
         "document.getElementById('status').textContent == 'loaded 42'",
         "eval", "document.getElementById('status').textContent", "screenshot", shot],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout.strip() == '"loaded 42"', done.stdout
    check_png(shot, 1280, 800)
    failed = subprocess.run(
        [sys.executable, driver, "--timeout", "0.5", "navigate", url, "wait", "false"],
        capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1, (failed.returncode, failed.stderr)
    assert "waiting for: false" in failed.stderr, failed.stderr
    bad = subprocess.run([sys.executable, driver, "fly"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2, (bad.returncode, bad.stderr)


if __name__ == "__main__":
    sys.exit(main())
