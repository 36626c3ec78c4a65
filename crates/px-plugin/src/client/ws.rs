//! The `plugin.dev.logs` channel over `GET /api/ws`: one connection
//! ([`LogSocket`]) and a follower task that reconnects and resumes from the
//! last `seq` it saw ([`follow`]).

use std::time::Duration;

use anyhow::Context as _;
use futures_util::{SinkExt as _, StreamExt as _};
use px_api::{ClientOp, LOGS_CHANNEL, ServerControl, ServerMessage};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};

use super::CoreClient;
use crate::exit::CliError;

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One open WebSocket to Core.
#[derive(Debug)]
pub struct LogSocket {
    stream: Stream,
}

impl LogSocket {
    /// Connects to `<core>/api/ws` with the client's token.
    pub async fn connect(core: &CoreClient) -> anyhow::Result<LogSocket> {
        let url = if let Some(rest) = core.url().strip_prefix("https://") {
            format!("wss://{rest}/api/ws")
        } else {
            format!("ws://{}/api/ws", core.url().trim_start_matches("http://"))
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .with_context(|| format!("building a WebSocket request for {url}"))?;
        if let Some(token) = core.token() {
            let value = format!("Bearer {token}")
                .parse()
                .context("the token is not a valid header value")?;
            request.headers_mut().insert("authorization", value);
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(LogSocket { stream }),
            Err(tungstenite::Error::Http(response)) => {
                let hint = if response.status() == 401 {
                    " (run `px-plugin login` or pass --token)"
                } else {
                    ""
                };
                anyhow::bail!("core refused the WebSocket: {}{hint}", response.status())
            }
            Err(tungstenite::Error::Io(err)) => Err(CliError::CoreUnreachable {
                url: core.url().to_owned(),
                source: Box::new(err),
            }
            .into()),
            Err(err) => Err(anyhow::Error::new(err).context("opening the WebSocket")),
        }
    }

    /// Subscribes to `plugin_id` (or `*`), backfilling after `since`, and
    /// waits for Core's answer. Messages that arrive first are returned.
    pub async fn subscribe(
        &mut self,
        plugin_id: &str,
        since: Option<u64>,
    ) -> anyhow::Result<Vec<ServerMessage>> {
        self.send(&ClientOp::Subscribe {
            channel: LOGS_CHANNEL.to_owned(),
            plugin_id: plugin_id.to_owned(),
            since,
        })
        .await?;
        let mut early = Vec::new();
        loop {
            match self.next().await? {
                None => anyhow::bail!("core closed the WebSocket"),
                Some(ServerMessage::Control(ServerControl::Subscribed { .. })) => {
                    return Ok(early);
                }
                Some(ServerMessage::Control(ServerControl::Error { code, message, .. })) => {
                    anyhow::bail!("core refused the subscription ({code}): {message}")
                }
                Some(other) => early.push(other),
            }
        }
    }

    /// Stops a subscription (its confirmation arrives later on [`LogSocket::next`]).
    pub async fn unsubscribe(&mut self, plugin_id: &str) -> anyhow::Result<()> {
        self.send(&ClientOp::Unsubscribe {
            channel: LOGS_CHANNEL.to_owned(),
            plugin_id: plugin_id.to_owned(),
        })
        .await
    }

    async fn send(&mut self, op: &ClientOp) -> anyhow::Result<()> {
        let text = serde_json::to_string(op).expect("client ops serialize");
        self.stream
            .send(Message::text(text))
            .await
            .context("writing to the WebSocket")
    }

    /// The next frame from Core; `None` once the connection is closed.
    pub async fn next(&mut self) -> anyhow::Result<Option<ServerMessage>> {
        loop {
            let Some(frame) = self.stream.next().await else {
                return Ok(None);
            };
            match frame {
                Ok(Message::Text(text)) => {
                    let message = serde_json::from_str(&text)
                        .with_context(|| format!("core sent a frame we cannot read: {text}"))?;
                    return Ok(Some(message));
                }
                Ok(Message::Close(_)) => return Ok(None),
                // pings are answered by tungstenite itself
                Ok(_) => {}
                Err(
                    tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::AlreadyClosed
                    | tungstenite::Error::Protocol(_)
                    | tungstenite::Error::Io(_),
                ) => return Ok(None),
                Err(err) => return Err(anyhow::Error::new(err).context("reading the WebSocket")),
            }
        }
    }

    /// Closes the connection cleanly (a close frame, then waiting for Core's).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.close(None)).await;
    }
}

/// What the follower task reports.
#[derive(Debug)]
pub enum Followed {
    /// A frame from Core.
    Message(ServerMessage),
    /// The connection dropped; retrying.
    Lost(String),
    /// Connected (again) and subscribed.
    Connected,
}

/// Commands for the follower task.
#[derive(Debug)]
pub enum FollowCommand {
    /// Follow this plugin instead (or first).
    Plugin(String),
    /// Close the socket and end the task.
    Stop,
}

/// Follows `plugin.dev.logs` for one plugin in a task: connects, subscribes
/// (with `since` on reconnects, so nothing buffered is lost), forwards every
/// frame, and reconnects every 500 ms while Core is away.
pub fn follow(
    core: CoreClient,
    plugin: Option<String>,
    since: Option<u64>,
) -> (
    mpsc::UnboundedSender<FollowCommand>,
    mpsc::UnboundedReceiver<Followed>,
) {
    let (commands_tx, mut commands) = mpsc::unbounded_channel();
    let (out, followed) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut plugin = plugin;
        let mut since = since;
        let mut lost_said = false;
        'connect: loop {
            let Some(id) = plugin.clone() else {
                match commands.recv().await {
                    Some(FollowCommand::Plugin(id)) => plugin = Some(id),
                    Some(FollowCommand::Stop) | None => return,
                }
                continue;
            };
            let connected = async {
                let mut socket = LogSocket::connect(&core).await?;
                let early = socket.subscribe(&id, since).await?;
                anyhow::Ok((socket, early))
            }
            .await;
            let (mut socket, early) = match connected {
                Ok(ok) => ok,
                Err(err) => {
                    if !lost_said {
                        lost_said = true;
                        let _ = out.send(Followed::Lost(format!("{err:#}")));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                        command = commands.recv() => match command {
                            Some(FollowCommand::Plugin(id)) => { plugin = Some(id); since = None; continue }
                            Some(FollowCommand::Stop) | None => return,
                        }
                    }
                }
            };
            lost_said = false;
            let _ = out.send(Followed::Connected);
            for message in early {
                note_seq(&message, &mut since);
                let _ = out.send(Followed::Message(message));
            }
            loop {
                tokio::select! {
                    frame = socket.next() => match frame {
                        Ok(Some(message)) => {
                            note_seq(&message, &mut since);
                            if out.send(Followed::Message(message)).is_err() {
                                socket.close().await;
                                return;
                            }
                        }
                        Ok(None) | Err(_) => {
                            lost_said = true;
                            let _ = out.send(Followed::Lost("the connection to core was lost".into()));
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue 'connect;
                        }
                    },
                    command = commands.recv() => match command {
                        Some(FollowCommand::Plugin(id)) => {
                            if plugin.as_deref() != Some(id.as_str()) {
                                let _ = socket.unsubscribe(plugin.as_deref().unwrap_or("*")).await;
                                since = None;
                                match socket.subscribe(&id, None).await {
                                    Ok(early) => for message in early {
                                        note_seq(&message, &mut since);
                                        let _ = out.send(Followed::Message(message));
                                    },
                                    Err(_) => { plugin = Some(id); continue 'connect }
                                }
                                plugin = Some(id);
                            }
                        }
                        Some(FollowCommand::Stop) | None => {
                            socket.close().await;
                            return;
                        }
                    }
                }
            }
        }
    });
    (commands_tx, followed)
}

fn note_seq(message: &ServerMessage, since: &mut Option<u64>) {
    if let ServerMessage::Log(log) = message {
        *since = Some(since.map_or(log.seq, |s| s.max(log.seq)));
    }
}
