#!/usr/bin/env python3
"""Drives a headless Chromium for tests, over the Chrome DevTools Protocol (CDP).

Python 3's standard library only: it speaks CDP over a minimal WebSocket client of its own.
It starts Debian's `chromium` headless with `--remote-debugging-port=0` and a fresh
`--user-data-dir` (a temp folder), reads the port Chromium chose from the folder's
DevToolsActivePort file, attaches to a page target, and offers:

    navigate(url)              load a page and wait for its load event
    evaluate(expression)       a JavaScript expression's value (promises awaited)
    wait_for(expression)       poll until the expression is truthy, or fail naming it and
                               showing the page's text
    screenshot(path)           the page as a PNG file, at the window size (1280x800 by default)
    text()                     the page's visible text (document.body.innerText)

Chromium (its whole process group) is killed by its pid and the temp folder removed when the
Browser closes: on leaving a `with` block, at exit, on an exception, and on SIGTERM/SIGINT/SIGHUP
to the command line.

As a module (test/support on sys.path):

    from browser_driver import Browser
    with Browser() as b:
        b.navigate("http://127.0.0.1:8080/admin/observer")
        b.wait_for("document.querySelectorAll('.node').length == 2", timeout=10)
        b.screenshot("observer.png")

As a command, steps run in order; `eval` prints the value as JSON; exit code 0 when every step
succeeded, 1 when one failed (the message on standard error), 2 for bad arguments:

    browser_driver.py navigate URL wait 'EXPR' screenshot out.png eval 'document.title'
"""

import atexit
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

__all__ = ["Browser", "BrowserError", "find_chromium"]


class BrowserError(Exception):
    """A step that failed: Chromium would not start, a page would not load, a wait timed out."""


def find_chromium():
    """The Chromium program: $CHROMIUM, else `chromium` or `chromium-browser` on the PATH."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    raise BrowserError("no chromium found (install it with scripts/install-deps.sh, or set CHROMIUM)")


# -- a minimal WebSocket client (RFC 6455): text frames out, text frames in ---------------------


class _WebSocket:
    def __init__(self, url, timeout):
        if not url.startswith("ws://"):
            raise BrowserError("not a ws:// URL: " + url)
        rest = url[len("ws://"):]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.rpartition(":")
        self._sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            "GET /{} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).format(path, hostport, key)
        self._sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise BrowserError("the DevTools endpoint closed during the WebSocket handshake")
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        self._buffer = bytearray(rest)
        self._partial = bytearray()
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise BrowserError("WebSocket handshake refused: " + status.decode(errors="replace"))

    def settimeout(self, seconds):
        self._sock.settimeout(seconds)

    def _send_frame(self, opcode, payload):
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._sock.sendall(header + mask + masked)

    def send_text(self, text):
        self._send_frame(0x1, text.encode())

    def _parse_frame(self):
        """(first byte, payload) of a whole frame at the buffer's start, taken off it; None
        while the buffer holds less (so a timeout between reads loses nothing)."""
        buf = self._buffer
        if len(buf) < 2:
            return None
        n = buf[1] & 0x7F
        pos = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n = struct.unpack("!H", bytes(buf[2:4]))[0]
            pos = 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n = struct.unpack("!Q", bytes(buf[2:10]))[0]
            pos = 10
        mask = None
        if buf[1] & 0x80:
            if len(buf) < pos + 4:
                return None
            mask = bytes(buf[pos:pos + 4])
            pos += 4
        if len(buf) < pos + n:
            return None
        payload = bytes(buf[pos:pos + n])
        first = buf[0]
        del buf[:pos + n]
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return first, payload

    def receive_text(self):
        """The next whole text message (answering pings on the way); socket.timeout when none
        came in time, with what was read kept for the next call."""
        while True:
            frame = self._parse_frame()
            if frame is None:
                chunk = self._sock.recv(1 << 20)
                if not chunk:
                    raise BrowserError("the DevTools connection closed")
                self._buffer += chunk
                continue
            first, payload = frame
            opcode = first & 0x0F
            if opcode == 0x8:
                raise BrowserError("the DevTools connection was closed by Chromium")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            self._partial += payload
            if first & 0x80:
                message, self._partial = bytes(self._partial), bytearray()
                return message.decode()

    def close(self):
        try:
            self._send_frame(0x8, b"")
        except OSError:
            pass
        self._sock.close()


# -- the browser ---------------------------------------------------------------------------------

_open_browsers = []


def _close_all():
    for b in list(_open_browsers):
        b.close()


atexit.register(_close_all)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def _catch_signals():
    """Turns SIGTERM and SIGHUP, where nobody handles them, into SystemExit, so that `with`
    blocks and atexit end Chromium (SIGINT already raises KeyboardInterrupt)."""
    import threading
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _on_signal)


class Browser:
    """A headless Chromium with one page attached; close() (or `with`) ends it."""

    def __init__(self, window=(1280, 800), start_timeout=30.0, call_timeout=30.0, chromium=None):
        self.window = window
        self.call_timeout = call_timeout
        self._next_id = 0
        self._events = []
        self._ws = None
        self._proc = None
        self._log = None
        _catch_signals()
        self._dir = tempfile.mkdtemp(prefix="microlith-chromium-")
        _open_browsers.append(self)
        try:
            self._start(chromium or find_chromium(), start_timeout)
        except BaseException:
            self.close()
            raise

    def _start(self, program, timeout):
        args = [
            program,
            "--headless",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            "--user-data-dir=" + self._dir,
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
            "--window-size={},{}".format(*self.window),
            "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self._log = open(os.path.join(self._dir, "chromium.log"), "wb")
        # A session of its own: its pid is the id of a process group holding all its helpers.
        self._proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        port_file = os.path.join(self._dir, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        port = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrowserError("chromium exited with {} at start: {}".format(
                    self._proc.returncode, self._log_tail()))
            try:
                with open(port_file) as f:
                    first = f.readline().strip()
                if first:
                    port = int(first)
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        if port is None:
            raise BrowserError("chromium wrote no DevToolsActivePort within {} s: {}".format(
                timeout, self._log_tail()))
        self.port = port
        target = self._page_target(deadline)
        self._ws = _WebSocket(target["webSocketDebuggerUrl"], self.call_timeout)
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=self.window[0],
                  height=self.window[1], deviceScaleFactor=1, mobile=False)

    def _page_target(self, deadline):
        base = "http://127.0.0.1:{}".format(self.port)
        while True:
            try:
                with urllib.request.urlopen(base + "/json/list", timeout=5) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    return pages[0]
                request = urllib.request.Request(base + "/json/new?about:blank", method="PUT")
                with urllib.request.urlopen(request, timeout=5) as r:
                    return json.load(r)
            except OSError:
                if time.monotonic() > deadline:
                    raise BrowserError("chromium's DevTools endpoint on port {} answers no page "
                                       "target: {}".format(self.port, self._log_tail()))
                time.sleep(0.05)

    def _log_tail(self):
        try:
            with open(os.path.join(self._dir, "chromium.log"), "rb") as f:
                return f.read()[-2000:].decode(errors="replace").strip() or "(no output)"
        except OSError:
            return "(no log)"

    # -- the protocol -------------------------------------------------------------------------

    def call(self, method, timeout=None, **params):
        """Sends one CDP command and answers its result; events that arrive meanwhile are kept."""
        if self._ws is None:
            raise BrowserError("the browser is closed")
        self._next_id += 1
        my_id = self._next_id
        self._ws.send_text(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + (timeout or self.call_timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("no answer to {} within {} s".format(method, timeout or
                                                                        self.call_timeout))
            self._ws.settimeout(left)
            try:
                message = json.loads(self._ws.receive_text())
            except socket.timeout:
                continue
            if message.get("id") == my_id:
                if "error" in message:
                    raise BrowserError("{} failed: {}".format(method, message["error"]))
                return message.get("result", {})
            if "method" in message:
                self._events.append(message)

    def _wait_event(self, name, deadline):
        while True:
            for i, e in enumerate(self._events):
                if e["method"] == name:
                    del self._events[i]
                    return e
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._ws.settimeout(left)
            try:
                message = json.loads(self._ws.receive_text())
            except socket.timeout:
                return None
            if "method" in message:
                self._events.append(message)

    # -- what tests use -----------------------------------------------------------------------

    def navigate(self, url, timeout=30.0):
        """Loads `url` and waits for its load event."""
        deadline = time.monotonic() + timeout
        self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
        result = self.call("Page.navigate", timeout=timeout, url=url)
        if result.get("errorText"):
            raise BrowserError("cannot load {}: {}".format(url, result["errorText"]))
        if self._wait_event("Page.loadEventFired", deadline) is None:
            raise BrowserError("{} did not finish loading within {} s".format(url, timeout))

    def evaluate(self, expression, timeout=None):
        """The value of a JavaScript expression in the page (a promise is awaited), as JSON
        makes it; a thrown exception raises BrowserError."""
        result = self.call("Runtime.evaluate", timeout=timeout, expression=expression,
                           returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError("{!r} threw: {}".format(expression, text))
        return result.get("result", {}).get("value")

    def text(self):
        """The page's visible text."""
        try:
            return self.evaluate("document.body ? document.body.innerText : ''") or ""
        except BrowserError as e:
            return "(unreadable: {})".format(e)

    def wait_for(self, expression, timeout=10.0, interval=0.05):
        """Polls until `expression` is truthy (as JavaScript judges it: a DOM element is, though
        it reaches Python as an empty dict) and answers its value; after `timeout` seconds,
        fails with the expression, its last value or error, and the page's text."""
        deadline = time.monotonic() + timeout
        last = None
        judged = "(() => {{ const v = ({}); return [!!v, v]; }})()".format(expression)
        while True:
            try:
                truthy, value = self.evaluate(judged)
                if truthy:
                    return value
                last = "its value was {}".format(json.dumps(value))
            except BrowserError as e:
                last = str(e)
            if time.monotonic() >= deadline:
                raise BrowserError(
                    "timed out after {} s waiting for: {}\n({})\npage text:\n{}".format(
                        timeout, expression, last, self.text()))
            time.sleep(interval)

    def screenshot(self, path):
        """Writes the page, at the window size, as a PNG file; answers its size in bytes."""
        result = self.call("Page.captureScreenshot", format="png")
        data = base64.b64decode(result["data"])
        with open(path, "wb") as f:
            f.write(data)
        return len(data)

    def close(self):
        """Ends Chromium (its process group, by its pid) and removes its temp folder; again is
        a no-op."""
        if self._ws is not None:
            try:
                self._ws.close()
            except OSError:
                pass
            self._ws = None
        if self._proc is not None:
            _end_group(self._proc)
            self._proc = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        if self in _open_browsers:
            _open_browsers.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _end_group(proc):
    """SIGTERM to the process group Chromium leads, SIGKILL after 5 s, and reaps it."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Helpers may outlive the leader a moment; the group is ours alone.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- the command line ---------------------------------------------------------------------------

USAGE = """usage: browser_driver.py [--window WxH] [--timeout S] STEP...
steps, run in order:
  navigate URL        load URL and wait for its load event
  eval EXPR           print EXPR's value as JSON
  wait EXPR           wait until EXPR is truthy (at most --timeout seconds, default 10)
  screenshot FILE     write the page as a PNG file
  text                print the page's visible text"""


def main(argv):
    window = (1280, 800)
    timeout = 10.0
    args = list(argv)
    try:
        while args and args[0].startswith("--"):
            option = args.pop(0)
            if option == "--window":
                w, h = args.pop(0).lower().split("x")
                window = (int(w), int(h))
            elif option == "--timeout":
                timeout = float(args.pop(0))
            elif option in ("--help", "-h"):
                print(USAGE)
                return 0
            else:
                raise ValueError("unknown option " + option)
        steps = []
        while args:
            step = args.pop(0)
            if step == "text":
                steps.append((step, None))
            elif step in ("navigate", "eval", "wait", "screenshot"):
                steps.append((step, args.pop(0)))
            else:
                raise ValueError("unknown step " + step)
        if not steps:
            raise ValueError("no steps")
    except (ValueError, IndexError) as e:
        print("browser_driver.py: {}\n{}".format(e, USAGE), file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    try:
        with Browser(window=window) as b:
            for step, arg in steps:
                if step == "navigate":
                    b.navigate(arg, timeout=max(timeout, 30.0))
                elif step == "eval":
                    print(json.dumps(b.evaluate(arg)))
                elif step == "wait":
                    b.wait_for(arg, timeout=timeout)
                elif step == "screenshot":
                    b.screenshot(arg)
                elif step == "text":
                    print(b.text())
    except BrowserError as e:
        print("browser_driver.py: {}".format(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
