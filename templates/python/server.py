#!/usr/bin/env python3
"""A PowerX plugin in plain Python: standard library only, no build step.

Core starts this file with `PORT` set (and `PX_PLUGIN_ID`, `PX_PLUGIN_VERSION`,
`PX_PLUGIN_BASE_PATH`, `PX_PLUGIN_CONFIG`, ...). Core proxies
`/_p/<id>/api/<path>` to `http://127.0.0.1:$PORT/<path>`, so the route
`/hello` below answers `GET /_p/<id>/api/hello`.

Run it by hand:  PORT=8080 python3 server.py   then   curl localhost:8080/hello
"""

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def load_manifest():
    """manifest.json sits next to this file (in the project and in dist/)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "manifest.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


MANIFEST = load_manifest()
PLUGIN_ID = os.environ.get("PX_PLUGIN_ID") or MANIFEST.get("id", "unknown")
VERSION = os.environ.get("PX_PLUGIN_VERSION") or MANIFEST.get("version", "0.0.0")
BASE_PATH = os.environ.get("PX_PLUGIN_BASE_PATH", "/_p/" + PLUGIN_ID)
CONFIG = json.loads(os.environ.get("PX_PLUGIN_CONFIG") or json.dumps(MANIFEST.get("config", {})))
PORT = int(os.environ.get("PORT", "8080"))


def log(message):
    """One line per event on stdout; Core collects it as the plugin's log."""
    print(message, flush=True)


class Handler(BaseHTTPRequestHandler):
    server_version = "px-python-plugin/1"
    # headers and body go out in separate writes: without this, Nagle + delayed
    # ACK add ~40 ms to every keep-alive request
    disable_nagle_algorithm = True

    def do_GET(self):
        started = time.monotonic()
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            status, body = 200, {"status": "ok"}
        elif path == "/hello":
            greeting = CONFIG.get("greeting", "hello")
            status, body = 200, {"message": f"{greeting} from {PLUGIN_ID}", "version": VERSION}
        else:
            status, body = 404, {"error": {"code": "not_found", "message": f"no route for {path}"}}
        self.send_json(status, body)
        elapsed_ms = (time.monotonic() - started) * 1000
        log(f"{self.command} {self.path} {status} {elapsed_ms:.1f}ms")

    def send_json(self, status, body):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code="-", size="-"):
        pass  # do_GET logs each request itself, with its duration

    def log_message(self, format, *args):
        print(format % args, file=sys.stderr, flush=True)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)

    def stop(signum, _frame):
        log(f"received {signal.Signals(signum).name}, shutting down")
        # shutdown() waits for serve_forever() to return, so call it from another thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"{PLUGIN_ID} {VERSION} listening on 127.0.0.1:{PORT} (public base path {BASE_PATH})")
    server.serve_forever()
    server.server_close()
    log("stopped")


if __name__ == "__main__":
    main()
