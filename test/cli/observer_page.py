#!/usr/bin/env python3
"""The observer's page in a real browser (docs/observer.md).

Starts the bank (`microlith run`, its gateway on a port the OS chooses, admin paths on, an admin
token in the environment), opens /admin/observer in headless Chromium (test/support/
browser_driver.py), gives the page the token the way a user does (its form), and checks that:

- without the token the page answers 401 and shows its form;
- the page shows the bank's groups and their children;
- after a crash of the accounts service (a deposit with the memo "poison"), the restart count on
  the page changes without a reload (a value set on the page's window survives);
- a deposit forced into the request log with X-Microlith-Trace shows its calls on the page.

Then it takes the screenshot docs/observer.md shows (argument 3). The bank is killed by its pid
on every way out.

Usage: observer_page.py <microlith binary> <source tree> <screenshot.png>
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from browser_driver import Browser  # noqa: E402

TOKEN = "observer-page-admin-token"


def fail(message, log=None):
    print("FAIL: " + message, file=sys.stderr)
    if log is not None:
        with open(log) as f:
            print("--- log:\n" + f.read()[-6000:], file=sys.stderr)
    sys.exit(1)


def request(port, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    binary, source, screenshot = argv[1], argv[2], argv[3]
    work = tempfile.mkdtemp(prefix="observer-page-")
    with open(os.path.join(source, "examples/bank/bank.toml")) as f:
        system = f.read()
    system = system.replace('listen = "127.0.0.1:8080"', 'listen = "127.0.0.1:0"\nadmin = true', 1)
    system_file = os.path.join(work, "bank.toml")
    with open(system_file, "w") as f:
        f.write(system)
    log = os.path.join(work, "bank.log")
    env = dict(os.environ, MICROLITH_ADMIN_TOKEN=TOKEN)
    with open(log, "w") as out:
        bank = subprocess.Popen([binary, "run", system_file], stdout=out, stderr=subprocess.STDOUT,
                                env=env)
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None:
            with open(log) as f:
                found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", f.read())
            if found and "running in one process" in open(log).read():
                port = int(found.group(1))
            elif bank.poll() is not None:
                fail("microlith exited before it served", log)
            elif time.monotonic() > deadline:
                fail("the bank did not start within 60 s", log)
            else:
                time.sleep(0.05)

        status, body = request(port, "GET", "/admin/observer")
        if status != 401 or "<title>microlith observer</title>" not in body:
            fail("GET /admin/observer without the token: expected 401 with the page, got %d" % status)
        status, _ = request(port, "POST", "/accounts", {"id": "page-1", "initial_balance": 100})
        if status != 200:
            fail("opening an account answered %d" % status, log)

        with Browser(window=(1280, 900)) as b:
            b.navigate("http://127.0.0.1:%d/admin/observer" % port)
            b.wait_for("!document.getElementById('login').hidden", timeout=30)
            b.evaluate("document.getElementById('token').value = %s;"
                       "document.getElementById('login').requestSubmit(); true" % json.dumps(TOKEN))
            groups = " && ".join("document.querySelector('tr[data-child=\"%s\"]')" % g
                                 for g in ("ledger", "accounts", "payments", "web"))
            b.wait_for(groups, timeout=30)
            b.wait_for("document.querySelector('tr[data-child=\"accounts/accounts\"] .restarts')"
                       ".textContent === '0'", timeout=30)
            # Anything set on the page now is gone if the page reloads.
            b.evaluate("window.observerTestMarker = 'still the same page'; true")

            request(port, "POST", "/accounts/page-1/deposit", {"amount": 1, "memo": "poison"})
            b.wait_for("document.querySelector('tr[data-child=\"accounts/accounts\"] .restarts')"
                       ".textContent === '1'", timeout=30)
            if b.evaluate("window.observerTestMarker") != "still the same page":
                fail("the page reloaded to show the restart")
            b.wait_for("document.querySelector('tr[data-child=\"accounts/accounts\"] .reason')"
                       ".textContent.includes('poison')", timeout=30)

            status, _ = request(port, "POST", "/accounts/page-1/deposit", {"amount": 5},
                                {"X-Microlith-Trace": "1", "X-Request-Id": "page-trace-1"})
            if status != 200:
                fail("the traced deposit answered %d" % status, log)
            b.wait_for("document.querySelector('details[data-request=\"page-trace-1\"]')",
                       timeout=30)
            b.evaluate("document.querySelector('details[data-request=\"page-trace-1\"]').open = true;"
                       "true")
            b.wait_for("document.querySelector('details[data-request=\"page-trace-1\"]')"
                       ".textContent.includes('accounts.Deposit')", timeout=30)
            b.screenshot(screenshot)
        with open(screenshot, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                fail("the screenshot is not a PNG")
        print("ok: the page shows the bank, its restart without a reload and a traced deposit; "
              "screenshot in " + screenshot)
        return 0
    finally:
        if bank.poll() is None:
            bank.send_signal(signal.SIGKILL)
            bank.wait()
        subprocess.run(["rm", "-rf", work], check=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
