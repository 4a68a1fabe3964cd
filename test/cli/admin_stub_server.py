#!/usr/bin/env python3
"""A stand-in for a gateway's modules admin endpoints (docs/admin.md, "Modules") for the CLI's
tests: listens on 127.0.0.1 on a port the OS chooses, prints that port on stdout, and appends one
JSON line per request to the file given as its argument (method, path, raw query, Authorization,
Content-Type, body length and sha256, whether the body was refused before it was sent).

Tokens: "Bearer stub-admin-token-0123456789" is the admin token; "Bearer rate-limited-token-0123"
gets 429 with Retry-After 42; any other token 403; none 401 with WWW-Authenticate. A request with
`Expect: 100-continue` is refused on its head, before its body is sent.
Usage: admin_stub_server.py REQUESTS_FILE"""
import hashlib
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

TOKEN = "stub-admin-token-0123456789"
LIMITED = "rate-limited-token-0123"
record_file = sys.argv[1]


def error(name, message):
    return {"error": name, "message": message, "request_id": "stub-1"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def refusal(self):
        """The status, headers and body refusing this request's token, or None."""
        auth = self.headers.get("Authorization")
        if auth is None or not auth.startswith("Bearer "):
            return (401, {"WWW-Authenticate": 'Bearer realm="microlith"'},
                    error("unauthenticated", "admin requests must bear the admin token: send "
                          "Authorization: Bearer TOKEN"))
        if auth == "Bearer " + LIMITED:
            return (429, {"Retry-After": "42"},
                    error("resource_exhausted", "too many failed admin requests from 127.0.0.1"))
        if auth != "Bearer " + TOKEN:
            return (403, {}, error("permission_denied",
                                   "the Authorization header's bearer token is not the admin token"))
        return None

    def record(self, body, refused_before_body=False):
        url = urllib.parse.urlsplit(self.path)
        line = {"method": self.command, "path": url.path, "query": url.query,
                "authorization": self.headers.get("Authorization", ""),
                "content_type": self.headers.get("Content-Type", ""),
                "length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                "refused_before_body": refused_before_body}
        with open(record_file, "a") as f:
            f.write(json.dumps(line) + "\n")

    def answer(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_expect_100(self):
        refused = self.refusal()
        if refused is None:
            return super().handle_expect_100()
        self.record(b"", refused_before_body=True)
        self.close_connection = True
        self.answer(refused[0], refused[2], refused[1])
        return False

    def serve(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        self.record(body)
        refused = self.refusal()
        if refused is not None:
            return self.answer(refused[0], refused[2], refused[1])
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        module = {"name": "acme.statements", "version": "1.0.0",
                  "sha256": hashlib.sha256(body).hexdigest(),
                  "active": query.get("activate") == "true",
                  "route_prefix": query.get("route_prefix", "/acme"),
                  "node": query.get("node", "")}
        if self.command == "POST" and url.path == "/_microlith/modules":
            return self.answer(200, {"installed": module, "message": "stored and verified"})
        if self.command == "GET" and url.path == "/_microlith/modules":
            return self.answer(200, {"modules": [
                {"name": "acme.statements", "version": "1.0.0", "sha256": "ab" * 32,
                 "active": True, "route_prefix": "/clients/acme", "node": "n1",
                 "installed_at": "2026-12-06T05:00:00Z", "loaded": True, "problem": ""},
                {"name": "acme.statements", "version": "1.2.0", "sha256": "cd" * 32,
                 "active": False, "route_prefix": "/clients/acme", "node": "n1",
                 "installed_at": "2026-12-06T06:00:00Z", "loaded": False,
                 "problem": "ABI 2 expected, archive has 3"}]})
        parts = url.path.split("/")
        if len(parts) == 5 and parts[:3] == ["", "_microlith", "modules"] \
                and parts[4] == "activate" and self.command == "POST":
            module.update(name=urllib.parse.unquote(parts[3]), version=query.get("version", ""),
                          active=True, route_prefix="/clients/acme", sha256="cd" * 32)
            return self.answer(200, {"activated": module, "message": "routes swapped"})
        if len(parts) == 4 and parts[:3] == ["", "_microlith", "modules"] \
                and self.command == "DELETE":
            name = urllib.parse.unquote(parts[3])
            if name != "acme.statements":
                return self.answer(404, error("not_found", f"no module named {name} is installed"))
            return self.answer(200, {"removed": name, "message": "unloaded and deleted"})
        return self.answer(404, error("no_route", f"no route for {self.command} {url.path}"))

    do_GET = serve
    do_POST = serve
    do_DELETE = serve


server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
