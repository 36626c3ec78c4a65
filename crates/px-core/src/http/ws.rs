//! `GET /api/ws`: the `plugin.dev.logs` channel over a WebSocket (SPEC §3.4).
//!
//! One task per connection owns the socket, the client's subscriptions and
//! one receiver of the event bus. The bus never waits for anybody: when this
//! client (or its network) is slower than the plugins, its receiver lags, the
//! oldest messages are dropped for it alone, and it gets a
//! `{"op":"missed","count":N}` frame instead. Authorization is checked per
//! subscription; a refused one is answered with an `error` frame and the
//! connection stays open. Core pings every [`PING_EVERY`] and closes a
//! connection that has been silent for [`SILENCE_LIMIT`].

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures_util::SinkExt as _;
use px_api::{ALL_PLUGINS, ClientOp, LOGS_CHANNEL, LogMessage, ServerControl};
use tokio::sync::broadcast::{self, error::TryRecvError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::events::EventBus;
use crate::state::AppState;

/// How often Core pings an idle client.
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// A client silent (no frame, no pong) this long is disconnected.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// Permission needed to subscribe to `plugin.dev.logs`.
const READ_PERMISSION: &str = "plugin:read";
/// Most frames written before one flush.
const BATCH: usize = 512;
/// Largest client frame accepted.
const MAX_CLIENT_FRAME: usize = 64 << 10;

/// The WebSocket route, merged into Core's router.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upgrade))
}

/// The `plugin.dev.logs` WebSocket.
#[utoipa::path(
    get,
    path = "/api/ws",
    tag = "events",
    description = "Permission: any valid credential to connect; `plugin:read` to subscribe. \
        A WebSocket upgrade (`Connection: Upgrade`, `Upgrade: websocket`). Every frame is one JSON \
        text message. The client sends `ClientOp` frames: \
        `{\"op\":\"subscribe\",\"channel\":\"plugin.dev.logs\",\"plugin_id\":\"<id>|*\",\"since\":<seq>}` \
        (`since` backfills buffered messages with a greater `seq`; absent = live only) and \
        `{\"op\":\"unsubscribe\",\"channel\",\"plugin_id\"}`. Core answers with `ServerMessage` \
        frames: a `LogMessage` (no `op`) per log line or lifecycle event, or a `ServerControl` \
        (`subscribed` with `last_seq`, `unsubscribed`, `missed` with the count dropped for a slow \
        client, `error` with code `bad_request`, `unknown_channel` or `forbidden` — a refused \
        subscription keeps the connection open). Core pings every 15 s and closes a client \
        silent for 45 s.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 101, description = "switching to the WebSocket protocol"),
        (status = 400, description = "not a WebSocket upgrade request"),
        (status = 401, description = "no credential, or an invalid, expired or revoked one", body = px_api::ErrorBody),
    )
)]
async fn upgrade(State(state): State<AppState>, caller: Caller, ws: WebSocketUpgrade) -> Response {
    let bus = state.plugins.events().clone();
    let shutdown = state.shutdown.clone();
    ws.max_message_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| async move {
            Connection::new(caller, socket).serve(&bus, &shutdown).await;
        })
}

/// One client connection and what it asked for.
struct Connection {
    caller: Caller,
    socket: WebSocket,
    /// Plugin id (or `*`) → highest `seq` this subscription must not repeat.
    subscriptions: HashMap<String, u64>,
    live: Option<broadcast::Receiver<LogMessage>>,
}

/// Why the loop ended.
enum End {
    /// The client closed, or the socket failed: nothing more to send.
    Gone,
    /// Core closes with this code and reason.
    Close(u16, &'static str),
}

impl Connection {
    fn new(caller: Caller, socket: WebSocket) -> Connection {
        Connection {
            caller,
            socket,
            subscriptions: HashMap::new(),
            live: None,
        }
    }

    async fn serve(mut self, bus: &EventBus, shutdown: &CancellationToken) {
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let mut heard = Instant::now();
        let end = loop {
            tokio::select! {
                frame = self.socket.recv() => {
                    heard = Instant::now();
                    match frame {
                        Some(Ok(Message::Text(text))) => {
                            if self.on_text(bus, text.as_str()).await.is_err() {
                                break End::Gone;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            let refused = error_frame("bad_request", "send JSON text frames", None);
                            if self.send(refused).await.is_err() {
                                break End::Gone;
                            }
                        }
                        // Pongs just prove liveness; pings are answered by the socket itself.
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break End::Gone,
                    }
                }
                received = recv_live(&mut self.live) => {
                    if self.forward(received).await.is_err() {
                        break End::Gone;
                    }
                }
                _ = shutdown.cancelled() => break End::Close(close_code::AWAY, "Core is shutting down"),
                _ = ping.tick() => {
                    if heard.elapsed() > SILENCE_LIMIT {
                        break End::Close(close_code::POLICY, "no pong");
                    }
                    if self.socket.send(Message::Ping(Default::default())).await.is_err() {
                        break End::Gone;
                    }
                }
            }
        };
        if let End::Close(code, reason) = end {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = self.socket.send(Message::Close(Some(frame))).await;
        }
    }

    async fn on_text(&mut self, bus: &EventBus, text: &str) -> Result<(), axum::Error> {
        let op = match serde_json::from_str::<ClientOp>(text) {
            Ok(op) => op,
            Err(err) => {
                let message = format!(
                    "expected {{\"op\":\"subscribe\"|\"unsubscribe\",\"channel\",\"plugin_id\",\"since\"?}}: {err}"
                );
                return self.send(error_frame("bad_request", &message, None)).await;
            }
        };
        match op {
            ClientOp::Subscribe {
                channel,
                plugin_id,
                since,
            } => self.subscribe(bus, channel, plugin_id, since).await,
            ClientOp::Unsubscribe { channel, plugin_id } => {
                if channel == LOGS_CHANNEL {
                    self.subscriptions.remove(&plugin_id);
                }
                let done = ServerControl::Unsubscribed { channel, plugin_id };
                self.send(control(&done)).await
            }
        }
    }

    async fn subscribe(
        &mut self,
        bus: &EventBus,
        channel: String,
        plugin_id: String,
        since: Option<u64>,
    ) -> Result<(), axum::Error> {
        let target = Some((channel.as_str(), plugin_id.as_str()));
        if channel != LOGS_CHANNEL {
            let message = format!("no channel {channel:?}; the one channel is {LOGS_CHANNEL}");
            return self
                .send(error_frame("unknown_channel", &message, target))
                .await;
        }
        if !self.caller.can(READ_PERMISSION) {
            let message = format!(
                "{} lacks the {READ_PERMISSION} permission",
                self.caller.actor
            );
            return self.send(error_frame("forbidden", &message, target)).await;
        }
        // Receive live messages first, then read the buffer: nothing falls
        // between the two, and `seq` removes what both hold.
        self.live.get_or_insert_with(|| bus.subscribe());
        let last_seq = bus.last_seq();
        let (backfill, skip_until) = match since {
            Some(since) => {
                let backfill = bus.backfill(&plugin_id, since);
                let newest = backfill.last().map_or(since, |m| m.seq.max(since));
                (backfill, newest)
            }
            None => (Vec::new(), last_seq),
        };
        let subscribed = ServerControl::Subscribed {
            channel,
            plugin_id: plugin_id.clone(),
            last_seq,
        };
        self.send(control(&subscribed)).await?;
        for batch in backfill.chunks(BATCH) {
            for message in batch {
                self.socket.feed(log_frame(message)).await?;
            }
            self.socket.flush().await?;
        }
        self.subscriptions.insert(plugin_id, skip_until);
        Ok(())
    }

    /// Sends what the bus handed over, plus whatever else is ready, then
    /// flushes once.
    async fn forward(
        &mut self,
        first: Result<LogMessage, broadcast::error::RecvError>,
    ) -> Result<(), axum::Error> {
        let mut pending = match first {
            Ok(message) => Some(message),
            Err(broadcast::error::RecvError::Lagged(count)) => {
                self.socket
                    .feed(control(&ServerControl::Missed { count }))
                    .await?;
                None
            }
            Err(broadcast::error::RecvError::Closed) => {
                self.live = None;
                return Ok(());
            }
        };
        for _ in 0..BATCH {
            if let Some(message) = pending.take()
                && self.wants(&message)
            {
                self.socket.feed(log_frame(&message)).await?;
            }
            let Some(live) = self.live.as_mut() else {
                break;
            };
            match live.try_recv() {
                Ok(message) => pending = Some(message),
                Err(TryRecvError::Lagged(count)) => {
                    self.socket
                        .feed(control(&ServerControl::Missed { count }))
                        .await?;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        if let Some(message) = pending.take()
            && self.wants(&message)
        {
            self.socket.feed(log_frame(&message)).await?;
        }
        self.socket.flush().await
    }

    /// Whether a live message matches a subscription that has not sent it yet.
    fn wants(&self, message: &LogMessage) -> bool {
        [message.plugin_id.as_str(), ALL_PLUGINS].iter().any(|key| {
            self.subscriptions
                .get(*key)
                .is_some_and(|&seen| message.seq > seen)
        })
    }

    async fn send(&mut self, frame: Message) -> Result<(), axum::Error> {
        self.socket.send(frame).await
    }
}

/// The next live message, or never when nothing is subscribed yet.
async fn recv_live(
    live: &mut Option<broadcast::Receiver<LogMessage>>,
) -> Result<LogMessage, broadcast::error::RecvError> {
    match live {
        Some(live) => live.recv().await,
        None => std::future::pending().await,
    }
}

fn log_frame(message: &LogMessage) -> Message {
    Message::Text(
        serde_json::to_string(message)
            .expect("a log message serializes")
            .into(),
    )
}

fn control(frame: &ServerControl) -> Message {
    Message::Text(
        serde_json::to_string(frame)
            .expect("a control frame serializes")
            .into(),
    )
}

fn error_frame(code: &str, message: &str, target: Option<(&str, &str)>) -> Message {
    control(&ServerControl::Error {
        code: code.to_owned(),
        message: message.to_owned(),
        channel: target.map(|(channel, _)| channel.to_owned()),
        plugin_id: target.map(|(_, plugin)| plugin.to_owned()),
    })
}
