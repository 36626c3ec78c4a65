//! `GET /api/ws` with a real WebSocket client against a real Core: live
//! install events, `since` backfill, per-plugin filters, authorization, and a
//! slow consumer that is told what it missed while Core keeps serving.

mod common;
mod flood;

use std::time::{Duration, Instant};

use common::{Core, HELLO};
use flood::{connect, next, next_control, next_log, next_within, subscribe};
use futures_util::SinkExt as _;
use px_api::{ClientOp, LogMessage, MessageKind, Phase, ServerControl, ServerMessage};
use tokio_tungstenite::tungstenite;

const WAIT: Duration = Duration::from_secs(20);
const QUIET: Duration = Duration::from_secs(2);
const OTHER: &str = "com.example.other";

/// Reads log messages until one satisfies `done`; returns all read.
async fn read_until(
    socket: &mut flood::Socket,
    mut done: impl FnMut(&LogMessage) -> bool,
) -> Vec<LogMessage> {
    let mut seen = Vec::new();
    loop {
        let message = next_log(socket, WAIT).await;
        let stop = done(&message);
        seen.push(message);
        if stop {
            return seen;
        }
    }
}

fn event_name(message: &LogMessage) -> Option<&str> {
    message.data.as_ref().map(|e| e.name())
}

#[tokio::test]
async fn install_events_arrive_live_with_the_reports_install_id() {
    let core = Core::start().await;
    let mut socket = connect(&core.url, Some(&core.token)).await.unwrap();
    subscribe(&mut socket, HELLO, None).await;
    let ServerControl::Subscribed { plugin_id, .. } = next_control(&mut socket, WAIT).await else {
        panic!("expected subscribed")
    };
    assert_eq!(plugin_id, HELLO);

    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    let seen = read_until(&mut socket, |m| event_name(m) == Some("install.succeeded")).await;
    let events: Vec<&LogMessage> = seen
        .iter()
        .filter(|m| m.kind == MessageKind::Event)
        .collect();
    assert_eq!(event_name(events[0]), Some("install.started"));
    assert!(
        events
            .iter()
            .all(|m| m.install_id.as_deref() == Some(report.install_id.as_str())),
        "{events:#?}"
    );
    let phases: Vec<Phase> = events.iter().filter_map(|m| m.phase).collect();
    let expected: Vec<Phase> = Phase::ALL
        .iter()
        .copied()
        .filter(|p| *p != Phase::Migrate)
        .collect();
    assert_eq!(phases, expected);
    let swap = events
        .iter()
        .find(|m| m.phase == Some(Phase::Swap))
        .unwrap();
    assert_eq!(swap.revision, Some(1));
    assert!(
        seen.windows(2).all(|w| w[0].seq < w[1].seq),
        "seq not increasing"
    );

    // a request through the proxy shows up as the plugin's log line, tagged with its revision
    core.wait_serving(HELLO, WAIT).await;
    let seen = read_until(&mut socket, |m| {
        m.kind == MessageKind::Log && m.message.contains("GET /hello")
    })
    .await;
    let line = seen.last().unwrap();
    assert_eq!(line.revision, Some(1));
    assert_eq!(line.plugin_id, HELLO);
    core.stop().await;
}

#[tokio::test]
async fn since_backfills_and_subscriptions_filter_by_plugin() {
    let core = Core::start().await;
    let hello = core.plugin("hello", HELLO, "1.0.0", |_| {});
    let other = core.plugin("other", OTHER, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&hello).await.0, 200);
    assert_eq!(core.install_dir(&other).await.0, 200);

    // everything buffered for one plugin, oldest first
    let mut socket = connect(&core.url, Some(&core.token)).await.unwrap();
    subscribe(&mut socket, HELLO, Some(0)).await;
    let ServerControl::Subscribed { last_seq, .. } = next_control(&mut socket, WAIT).await else {
        panic!("expected subscribed")
    };
    let backfill = read_until(&mut socket, |m| event_name(m) == Some("install.succeeded")).await;
    assert!(backfill.iter().all(|m| m.plugin_id == HELLO));
    assert_eq!(event_name(&backfill[0]), Some("install.started"));
    assert!(backfill.iter().all(|m| m.seq <= last_seq));
    assert!(backfill.windows(2).all(|w| w[0].seq < w[1].seq));

    // `since` skips what the client already has; `*` merges plugins
    let middle = backfill[backfill.len() / 2].seq;
    let mut socket = connect(&core.url, Some(&core.token)).await.unwrap();
    subscribe(&mut socket, "*", Some(middle)).await;
    next_control(&mut socket, WAIT).await;
    let mut plugins = std::collections::BTreeSet::new();
    let all = read_until(&mut socket, |m| {
        m.plugin_id == OTHER && event_name(m) == Some("install.succeeded")
    })
    .await;
    for message in &all {
        assert!(message.seq > middle, "{} <= since {middle}", message.seq);
        plugins.insert(message.plugin_id.clone());
    }
    assert_eq!(plugins.len(), 2, "{plugins:?}");

    // live: only the subscribed plugin's lines arrive
    let mut socket = connect(&core.url, Some(&core.token)).await.unwrap();
    subscribe(&mut socket, HELLO, None).await;
    next_control(&mut socket, WAIT).await;
    assert_eq!(core.proxy(OTHER, "/hello").await.0, 200);
    assert_eq!(core.proxy(HELLO, "/hello").await.0, 200);
    let first = next_log(&mut socket, WAIT).await;
    assert_eq!(first.plugin_id, HELLO, "{first:?}");
    assert!(first.seq > last_seq);

    // unsubscribe stops the flow
    flood::send(
        &mut socket,
        &ClientOp::Unsubscribe {
            channel: px_api::LOGS_CHANNEL.into(),
            plugin_id: HELLO.into(),
        },
    )
    .await;
    let control = next_control(&mut socket, WAIT).await;
    assert!(
        matches!(control, ServerControl::Unsubscribed { .. }),
        "{control:?}"
    );
    assert_eq!(core.proxy(HELLO, "/hello").await.0, 200);
    let quiet = tokio::time::timeout(Duration::from_millis(500), next(&mut socket, WAIT)).await;
    assert!(
        quiet.is_err(),
        "a message arrived after unsubscribe: {quiet:?}"
    );
    core.stop().await;
}

#[tokio::test]
async fn subscribing_needs_a_token_and_plugin_read() {
    let core = Core::start().await;
    match connect(&core.url, None).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
    match connect(&core.url, Some("not-a-token")).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected 401, got {other:?}"),
    }

    let config = px_core::Config::new(core.data.path());
    let store = px_core::Store::connect(&config.database_url())
        .await
        .unwrap();
    store
        .add_user("nobody", "no-such-role", None)
        .await
        .unwrap();
    let token = store.create_user_token("nobody", "ws").await.unwrap();
    let mut socket = connect(&core.url, Some(&token)).await.unwrap();
    subscribe(&mut socket, HELLO, Some(0)).await;
    match next(&mut socket, WAIT).await {
        ServerMessage::Control(ServerControl::Error {
            code, plugin_id, ..
        }) => {
            assert_eq!(code, "forbidden");
            assert_eq!(plugin_id.as_deref(), Some(HELLO));
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
    // still connected: bad frames get errors too, and unknown channels are named
    socket
        .send(tungstenite::Message::text("not json"))
        .await
        .unwrap();
    let control = next_control(&mut socket, WAIT).await;
    assert!(matches!(&control, ServerControl::Error { code, .. } if code == "bad_request"));

    let mut socket = connect(&core.url, Some(&core.token)).await.unwrap();
    flood::send(
        &mut socket,
        &ClientOp::Subscribe {
            channel: "plugin.nope".into(),
            plugin_id: "*".into(),
            since: None,
        },
    )
    .await;
    let control = next_control(&mut socket, WAIT).await;
    assert!(matches!(&control, ServerControl::Error { code, .. } if code == "unknown_channel"));
    core.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_told_what_it_missed_and_slows_nobody() {
    let core = Core::start().await;
    let dir = flood::write_flood_plugin(&core.work.path().join("flood"), HELLO);
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");

    let mut slow = connect(&core.url, Some(&core.token)).await.unwrap();
    subscribe(&mut slow, HELLO, None).await;
    next_control(&mut slow, WAIT).await;
    let mut fast = connect(&core.url, Some(&core.token)).await.unwrap();
    subscribe(&mut fast, HELLO, None).await;
    next_control(&mut fast, WAIT).await;

    const LINES: u64 = 300_000;
    let flood_started = Instant::now();
    let (status, _) = core.proxy(HELLO, &format!("/flood?n={LINES}")).await;
    assert_eq!(status, 200);
    // the fast client keeps up while the slow one reads nothing; Core keeps answering
    let mut delivered = 0u64;
    let mut missed_by_fast = 0u64;
    // until the plugin's summary line (or, should Core's log queue have
    // dropped it, a quiet second)
    while let Some(frame) = next_within(&mut fast, QUIET).await {
        match frame {
            ServerMessage::Log(log) if log.message.starts_with("flood done") => break,
            ServerMessage::Log(_) => delivered += 1,
            ServerMessage::Control(ServerControl::Missed { count }) => missed_by_fast += count,
            ServerMessage::Control(other) => panic!("unexpected {other:?}"),
        }
    }
    let flood_took = flood_started.elapsed();
    let answered = Instant::now();
    let (status, _) = core.get("/healthz").await;
    assert_eq!(status, 200);
    assert!(answered.elapsed() < Duration::from_secs(1));
    assert!(delivered > 0);
    eprintln!("fast client: {delivered} lines, {missed_by_fast} missed, flood took {flood_took:?}");

    // now the slow client reads: it was told it missed messages, and it is still served
    let mut missed = 0u64;
    let mut lines = 0u64;
    while let Some(frame) = next_within(&mut slow, QUIET).await {
        match frame {
            ServerMessage::Control(ServerControl::Missed { count }) => missed += count,
            ServerMessage::Log(log) if log.message.starts_with("flood done") => break,
            ServerMessage::Log(_) => lines += 1,
            ServerMessage::Control(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(missed > 0, "the slow client missed nothing ({lines} lines)");
    assert!(lines < LINES);
    core.stop().await;
}

#[tokio::test]
async fn shutting_down_core_closes_sockets_with_going_away() {
    use futures_util::StreamExt as _;
    let core = Core::start().await;
    let mut socket = connect(&core.url, Some(&core.token)).await.unwrap();
    subscribe(&mut socket, "*", None).await;
    assert!(matches!(
        next_control(&mut socket, WAIT).await,
        ServerControl::Subscribed { .. }
    ));
    let stopping = tokio::spawn(core.stop());
    let close = loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a close frame")
        {
            Some(Ok(tungstenite::Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let frame = close.expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 1001, "{frame:?}");
    assert!(frame.reason.contains("shutting down"), "{frame:?}");
    stopping.await.unwrap();
}
