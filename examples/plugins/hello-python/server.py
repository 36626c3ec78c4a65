"""Hello plugin: a PowerX plugin in plain Python (standard library only).

Core starts it with PORT (and PX_PLUGIN_*) in its environment and waits for
GET /healthz to answer 2xx. Every request is logged on stdout, which Core
streams as the plugin's logs.

HELLO_MODE (set in runtime.env) makes it misbehave on purpose, for tests and
for trying Core's rollback: exit, never_listen, unhealthy, unhealthy_after:<ms>
(healthy at first, then /healthz answers 500), crash_after:<ms>,
ignore_term, fork_child (starts a long-lived helper process),
boot_after:<ms> (a slow boot: listens only after <ms>), slow_health:<ms>
(the first /healthz is answered only after <ms>, later ones at once),
hang_health_after:<ms> (from <ms> after start, /healthz never answers).

HELLO_ROLE, when set, makes GET / answer with it (e.g. `admin` when the
same server runs as a revision's admin process). Like PowerX's admin
servers, it is then reached at its full path (`/_p/<id>/admin/...`) and
strips the X-Forwarded-Prefix Core sends.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ["PORT"])
VERSION = os.environ.get("PX_PLUGIN_VERSION", "dev")
REVISION = os.environ.get("PX_PLUGIN_REVISION", "0")
CONFIG = json.loads(os.environ.get("PX_PLUGIN_CONFIG") or "{}")
MODE = os.environ.get("HELLO_MODE", "")
ROLE = os.environ.get("HELLO_ROLE")
STARTED = time.monotonic()
HEALTH_PROBES = 0


def mode_ms(name):
    """The <ms> of HELLO_MODE=<name>:<ms>, in seconds, or None."""
    if MODE.startswith(name + ":"):
        return int(MODE.split(":", 1)[1]) / 1000
    return None


def unhealthy():
    if MODE == "unhealthy":
        return True
    if MODE.startswith("unhealthy_after:"):
        return time.monotonic() - STARTED > int(MODE.split(":", 1)[1]) / 1000
    return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without this, Nagle + delayed
    # ACK add ~40 ms to every keep-alive request
    disable_nagle_algorithm = True

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        global HEALTH_PROBES
        path, _, query = self.path.partition("?")
        prefix = self.headers.get("X-Forwarded-Prefix", "")
        if ROLE and prefix and (path == prefix or path.startswith(prefix + "/")):
            path = path[len(prefix):] or "/"
        if path == "/healthz":
            HEALTH_PROBES += 1
            hang_after = mode_ms("hang_health_after")
            if mode_ms("slow_health") and HEALTH_PROBES == 1:
                time.sleep(mode_ms("slow_health"))
            elif hang_after is not None and time.monotonic() - STARTED > hang_after:
                time.sleep(3600)
            sick = unhealthy()
            self.answer(500 if sick else 200, {"ok": not sick})
        elif path == "/" and ROLE:
            self.answer(200, {
                "role": ROLE,
                "version": VERSION,
                "revision": int(REVISION),
                "path": self.path,
                "prefix": prefix,
            })
        elif path == "/hello":
            self.answer(200, {
                "message": CONFIG.get("greeting", "hello"),
                "version": VERSION,
                "revision": int(REVISION),
            })
        elif path == "/slow":
            ms = int(dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("ms", "100"))
            time.sleep(ms / 1000)
            self.answer(200, {"slept_ms": ms, "version": VERSION})
        elif path == "/headers":
            self.answer(200, {k.lower(): v for k, v in self.headers.items()})
        else:
            self.answer(404, {"error": "not found", "path": path})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else '?'}", flush=True)


def main():
    if MODE == "exit":
        print("hello: exiting at once as HELLO_MODE=exit asks", file=sys.stderr, flush=True)
        sys.exit(3)
    if MODE == "never_listen":
        print("hello: not listening (HELLO_MODE=never_listen)", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    if MODE == "ignore_term":
        signal.signal(signal.SIGTERM, lambda *_: print("hello: ignoring SIGTERM", flush=True))
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if MODE.startswith("crash_after:"):
        delay = int(MODE.split(":", 1)[1]) / 1000

        def crash():
            time.sleep(delay)
            print(f"hello: crashing after {delay * 1000:.0f} ms", file=sys.stderr, flush=True)
            os._exit(7)

        threading.Thread(target=crash, daemon=True).start()
    if mode_ms("boot_after"):
        print(f"hello: booting for {mode_ms('boot_after') * 1000:.0f} ms", flush=True)
        time.sleep(mode_ms("boot_after"))
    if MODE == "fork_child":
        helper = subprocess.Popen(["sleep", "600"])
        print(f"hello: started helper process {helper.pid}", flush=True)
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    print(f"hello {VERSION} (revision {REVISION}) listening on 127.0.0.1:{PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
