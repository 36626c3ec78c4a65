#!/usr/bin/env python3
"""Stand-in for a PowerX plugin's Go backend (backend/bin/plugin).

It behaves as PowerX's plugin backends do where Core can tell:
- the listen address: POWERX_HTTP_ADDR as given, else ":" + POWERX_DYNAMIC_PORT,
  else ":" + PORT, else POWERX_BIND_ADDR (with __POWERX_DYNAMIC_PORT__ replaced by
  PORT), else ":8086"; an address without a host listens on every interface;
- STANDIN_BOOT_MS: how long it "boots" before it listens (real backends open
  their database first);
- /healthz at the root, the API below /api/v1, and every API call must carry
  the gateway JWT: HS256 with POWERX_SECURITY_JWT_SECRET, `iss` equal to
  POWERX_SECURITY_JWT_ISSUER, `aud` holding POWERX_SECURITY_JWT_AUDIENCE (else
  "plugin:" + POWERX_PLUGIN_ID), `exp`/`nbf` with 60 s of leeway. Anything else
  is 401 {"error": "jwt Unauthorized"}.

API: GET /api/v1/whoami (the verified claims), GET /api/v1/templates (rows the
migration wrote), GET /api/v1/version. Standard library only.
"""

import base64
import hashlib
import hmac
import json
import os
import sqlite3
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LEEWAY_S = 60


def listen_address():
    env = os.environ
    if env.get("POWERX_HTTP_ADDR", "").strip():
        return env["POWERX_HTTP_ADDR"].strip()
    if env.get("POWERX_DYNAMIC_PORT", "").strip():
        return ":" + env["POWERX_DYNAMIC_PORT"].strip()
    if env.get("PORT", "").strip():
        return ":" + env["PORT"].strip()
    bind = env.get("POWERX_BIND_ADDR", "").strip()
    if bind:
        return bind.replace("__POWERX_DYNAMIC_PORT__", env.get("PORT", "0"))
    return ":8086"


def b64decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify(header):
    """The claims of a valid gateway JWT, else None."""
    secret = os.environ.get("POWERX_SECURITY_JWT_SECRET", "")
    if not secret or not header.startswith("Bearer "):
        return None
    try:
        head, body, signature = header[len("Bearer "):].split(".")
        if json.loads(b64decode(head)).get("alg") != "HS256":
            return None
        expected = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, b64decode(signature)):
            return None
        claims = json.loads(b64decode(body))
    except (ValueError, json.JSONDecodeError):
        return None
    now = time.time()
    issuer = os.environ.get("POWERX_SECURITY_JWT_ISSUER", "")
    audience = os.environ.get("POWERX_SECURITY_JWT_AUDIENCE") or (
        "plugin:" + os.environ.get("POWERX_PLUGIN_ID", "")
    )
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if issuer and claims.get("iss") != issuer:
        return None
    if audience not in audiences:
        return None
    if "exp" in claims and now > claims["exp"] + LEEWAY_S:
        return None
    if "nbf" in claims and now < claims["nbf"] - LEEWAY_S:
        return None
    return claims


def database():
    data = os.environ.get("POWERX_PLUGIN_DATA_DIR") or os.environ.get("PX_PLUGIN_DATA_DIR", ".")
    return os.path.join(data, "plugin.db")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = self.path.partition("?")[0]
        if path == "/healthz":
            return self.answer(200, {"status": "ok"})
        if not path.startswith("/api/v1/"):
            return self.answer(404, {"error": "not found", "path": path})
        claims = verify(self.headers.get("Authorization", ""))
        if claims is None:
            return self.answer(401, {"error": "jwt Unauthorized"})
        if path == "/api/v1/whoami":
            return self.answer(200, claims)
        if path == "/api/v1/version":
            return self.answer(200, {
                "version": os.environ.get("POWERX_PLUGIN_VERSION"),
                "revision": os.environ.get("PX_PLUGIN_REVISION"),
            })
        if path == "/api/v1/templates":
            try:
                with sqlite3.connect(database()) as db:
                    rows = db.execute("SELECT name FROM templates ORDER BY id").fetchall()
            except sqlite3.Error as error:
                return self.answer(500, {"error": f"database: {error}"})
            return self.answer(200, {"templates": [name for (name,) in rows]})
        return self.answer(404, {"error": "not found", "path": path})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else '?'}", flush=True)


def main():
    time.sleep(int(os.environ.get("STANDIN_BOOT_MS", "0") or "0") / 1000)
    address = listen_address()
    host, _, port = address.rpartition(":")
    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)
    print(f"plugin {os.environ.get('POWERX_PLUGIN_ID')} listening on {address}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
