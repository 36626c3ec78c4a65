//! A plugin that prints log lines as fast as it can when asked, for the
//! WebSocket slow-consumer test and the `ws_logs` benchmark, plus a small
//! WebSocket client for `/api/ws`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use px_api::{LogMessage, ServerControl, ServerMessage};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// `GET /flood?n=N` starts a thread that writes N lines to stdout (block
/// buffered, as a pipe makes it) and then one stderr line
/// `flood done N lines in S s (R lines/s)`: the plugin's own write rate.
pub const FLOOD_PY: &str = r#"
import os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ["PORT"])

def flood(n):
    write = sys.stdout.write
    started = time.perf_counter()
    for i in range(n):
        write("flood line %d\n" % i)
    sys.stdout.flush()
    elapsed = time.perf_counter() - started
    print("flood done %d lines in %.3f s (%d lines/s)" % (n, elapsed, n / max(elapsed, 1e-9)),
          file=sys.stderr, flush=True)

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/flood":
            n = int(dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("n", "1000"))
            threading.Thread(target=flood, args=(n,), daemon=True).start()
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
"#;

/// Writes the flood plugin (hello-python's manifest, running `flood.py`) into `dir`.
pub fn write_flood_plugin(dir: &Path, id: &str) -> PathBuf {
    super::common::write_plugin(dir, id, "1.0.0", |m| {
        m["runtime"]["args"] = serde_json::json!(["flood.py"]);
    });
    std::fs::write(dir.join("flood.py"), FLOOD_PY).unwrap();
    dir.to_owned()
}

/// A WebSocket connection to `/api/ws`.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `<core>/api/ws` with an optional bearer token.
pub async fn connect(
    core_url: &str,
    token: Option<&str>,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}/api/ws", core_url.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request()?;
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(socket)
}

/// Sends a subscribe frame.
pub async fn subscribe(socket: &mut Socket, plugin_id: &str, since: Option<u64>) {
    let op = px_api::ClientOp::Subscribe {
        channel: px_api::LOGS_CHANNEL.into(),
        plugin_id: plugin_id.into(),
        since,
    };
    send(socket, &op).await;
}

/// Sends one client frame.
pub async fn send(socket: &mut Socket, op: &px_api::ClientOp) {
    let text = serde_json::to_string(op).unwrap();
    socket.send(Message::text(text)).await.unwrap();
}

/// The next server frame, within `limit`.
pub async fn next(socket: &mut Socket, limit: Duration) -> ServerMessage {
    loop {
        let frame = tokio::time::timeout(limit, socket.next())
            .await
            .expect("no frame in time")
            .expect("socket closed")
            .expect("socket error");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("not a server frame ({e}): {text}"));
        }
    }
}

/// The next server frame, or `None` when nothing comes within `quiet`.
pub async fn next_within(socket: &mut Socket, quiet: Duration) -> Option<ServerMessage> {
    tokio::time::timeout(quiet, next(socket, Duration::from_secs(600)))
        .await
        .ok()
}

/// The next control frame (skipping log messages), within `limit`.
pub async fn next_control(socket: &mut Socket, limit: Duration) -> ServerControl {
    loop {
        if let ServerMessage::Control(control) = next(socket, limit).await {
            return control;
        }
    }
}

/// The next log message (panics on anything else but `missed`), within `limit`.
pub async fn next_log(socket: &mut Socket, limit: Duration) -> LogMessage {
    loop {
        match next(socket, limit).await {
            ServerMessage::Log(log) => return *log,
            ServerMessage::Control(ServerControl::Missed { .. }) => {}
            ServerMessage::Control(other) => panic!("expected a log message, got {other:?}"),
        }
    }
}
