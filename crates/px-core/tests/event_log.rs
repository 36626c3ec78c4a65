//! The `plugin.dev.logs` stream kept on disk (SPEC §3.6): it survives a Core
//! restart, reads back with `since`/`until`/`install_id`/`after_seq`, stays
//! within its per-plugin bounds, is pruned with the audit log, and never
//! holds up a publisher (what the writer misses is counted).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Core, HELLO, Options};
use px_api::{LogMessage, LogsResponse, MessageStream};
use px_core::Store;
use px_core::event_log::{Bounds, EventLog};
use px_core::events::{EventBus, LIVE_CAPACITY};
use px_core::store::events::EventQuery;

const DAY: i64 = 24 * 60 * 60 * 1000;

/// A fresh SQLite store, and a fresh PostgreSQL database as well when
/// `PX_TEST_DATABASE_URL` names a server (`scripts/with-postgres` sets it).
async fn temp_stores() -> (tempfile::TempDir, Vec<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let mut stores = vec![Store::connect(&url).await.unwrap()];
    if let Ok(server) = std::env::var("PX_TEST_DATABASE_URL")
        && !server.is_empty()
    {
        use sqlx::{Connection, Executor};
        let name = format!("px_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let mut url = reqwest::Url::parse(&server).unwrap();
        url.set_path(&format!("/{name}"));
        stores.push(Store::connect(url.as_str()).await.unwrap());
    }
    (dir, stores)
}

async fn logs(core: &Core, query: &str) -> (u16, Vec<LogMessage>) {
    let (status, body) = core
        .get(&format!("/api/plugins/{HELLO}/logs?{query}"))
        .await;
    if status != 200 {
        return (status, Vec::new());
    }
    let response: LogsResponse = serde_json::from_value(body).unwrap();
    (status, response.messages)
}

fn event_names(messages: &[LogMessage]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| Some(m.data.as_ref()?.name().to_owned()))
        .collect()
}

#[tokio::test]
async fn survives_a_restart_and_reads_back_with_filters() {
    let core = Core::start_with(Options {
        probation_ms: 0,
        ..Options::default()
    })
    .await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    let (status, first) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{first:?}");
    // the first install's last event may be published as its answer goes out
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = px_core::store::now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, second) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{second:?}");
    let (_, before_restart) = logs(&core, "tail=1000").await;
    let last_seq = before_restart.last().unwrap().seq;

    // A graceful stop and a start over the same data directory: the ring is gone.
    let (data, work) = core.stop().await;
    let core = Core::start_in(data, work, Options::default()).await;

    let first_id = first.install_id.clone();
    let (status, of_first) = logs(&core, &format!("install_id={first_id}")).await;
    assert_eq!(status, 200);
    let names = event_names(&of_first);
    assert_eq!(names.first().map(String::as_str), Some("install.started"));
    assert_eq!(names.last().map(String::as_str), Some("install.succeeded"));
    assert!(
        of_first
            .iter()
            .all(|m| m.install_id.as_deref() == Some(&*first_id))
    );

    // since/until split the two installs by time
    let (_, early) = logs(&core, &format!("until={between}&tail=1000")).await;
    assert!(!early.is_empty());
    assert!(early.iter().all(|m| m.ts < between));
    assert!(
        early
            .iter()
            .all(|m| m.install_id.as_deref() != Some(&*second.install_id))
    );
    let (_, late) = logs(
        &core,
        &format!("since={between}&until={}&tail=1000", i64::MAX),
    )
    .await;
    assert!(late.iter().all(|m| m.ts >= between));
    assert!(
        late.iter()
            .any(|m| m.install_id.as_deref() == Some(&*second.install_id))
    );
    assert!(
        !late
            .iter()
            .any(|m| m.install_id.as_deref() == Some(&*first_id))
    );

    // The restarted Core numbers after what it kept, so after_seq still works.
    core.wait_serving(HELLO, Duration::from_secs(10)).await;
    let (_, newer) = logs(&core, &format!("after_seq={last_seq}&tail=1000")).await;
    assert!(!newer.is_empty(), "the restart started the plugin again");
    assert!(newer.iter().all(|m| m.seq > last_seq));
    let (_, all) = logs(&core, "tail=10000").await;
    assert_eq!(all[..before_restart.len()], before_restart[..]);
    assert_eq!(all[all.len() - newer.len()..], newer[..]);
    // The first revision's own stdout, from before the restart, is there too.
    assert!(
        all.iter().any(|m| m.stream == MessageStream::Stdout
            && m.revision == Some(1)
            && m.message.contains("listening on")),
        "{all:#?}"
    );
    let (_, two) = logs(&core, "tail=2").await;
    assert_eq!(two, all[all.len() - 2..]);
}

#[tokio::test]
async fn unknown_plugins_are_404_and_uninstalled_ones_still_read() {
    let core = Core::start_with(Options {
        probation_ms: 0,
        ..Options::default()
    })
    .await;
    let (status, _) = logs(&core, "").await;
    assert_eq!(status, 404);
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let response = core
        .authed(core.client.delete(format!(
            "{}/api/plugins/dev/install?plugin_id={HELLO}",
            core.url
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (data, work) = core.stop().await;
    let core = Core::start_in(data, work, Options::default()).await;
    let (status, messages) = logs(&core, "").await;
    assert_eq!(status, 200);
    assert!(event_names(&messages).contains(&"plugin.uninstalled".to_owned()));
}

fn publish(bus: &EventBus, plugin: &str, n: usize, width: usize) {
    for i in 0..n {
        bus.log(
            plugin,
            1,
            px_api::ProcessRole::Backend,
            MessageStream::Stdout,
            format!("{i:0width$}"),
        );
    }
}

async fn kept(store: &Store, plugin: &str) -> Vec<LogMessage> {
    store
        .events(&EventQuery {
            plugin_id: plugin.into(),
            limit: 1_000_000,
            ..EventQuery::default()
        })
        .await
        .unwrap()
}

async fn bounded(store: Store) {
    let bus = Arc::new(EventBus::new());
    let bounds = Bounds {
        max_rows: 100,
        max_bytes: 1 << 30,
        trim_every: 10,
    };
    let log = EventLog::spawn(store.clone(), bus.clone(), bounds);
    for _ in 0..10 {
        publish(&bus, "noisy.plugin", 100, 8);
        publish(&bus, "quiet.plugin", 3, 8);
        tokio::task::yield_now().await;
    }
    log.stop().await;
    assert_eq!(log.dropped(), 0);
    let noisy = kept(&store, "noisy.plugin").await;
    assert!(noisy.len() <= 100, "{} rows kept", noisy.len());
    assert!(noisy.len() >= 100 - 10, "{} rows kept", noisy.len());
    assert_eq!(noisy.last().unwrap().message, "00000099", "the newest stay");
    assert_eq!(
        kept(&store, "quiet.plugin").await.len(),
        30,
        "the other plugin is untouched"
    );

    // A byte bound: 2 KB lines, 64 KB per plugin.
    let bytes = Bounds {
        max_rows: 1_000_000,
        max_bytes: 64 << 10,
        trim_every: 10,
    };
    let log = EventLog::spawn(store.clone(), bus.clone(), bytes);
    publish(&bus, "wide.plugin", 200, 2_000);
    log.stop().await;
    let wide = kept(&store, "wide.plugin").await;
    assert!(wide.len() <= 32, "{} rows of 2 KB kept", wide.len());
    assert!(wide.len() >= 20, "{} rows of 2 KB kept", wide.len());
}

#[tokio::test]
async fn each_plugin_is_bounded_in_rows_and_bytes() {
    let (_dir, stores) = temp_stores().await;
    for store in stores {
        bounded(store).await;
    }
}

async fn pruned(store: Store) {
    let now = 1_800_000_000_000;
    let messages: Vec<LogMessage> = [30, 8, 6, 0]
        .iter()
        .enumerate()
        .map(|(i, age_days)| LogMessage {
            channel: px_api::LOGS_CHANNEL.into(),
            seq: i as u64 + 1,
            ts: now - age_days * DAY - 1,
            plugin_id: "a.plugin".into(),
            revision: Some(1),
            install_id: None,
            kind: px_api::MessageKind::Log,
            stream: MessageStream::Stderr,
            level: px_api::Level::Warn,
            message: format!("{age_days} days old"),
            phase: None,
            data: None,
            process: [Some(px_api::ProcessRole::Admin), None][i % 2],
        })
        .collect();
    store.events_insert("core-a", &messages).await.unwrap();
    let pruned = px_core::retention::prune(&store, now, 7).await.unwrap();
    assert_eq!(pruned.events, 2);
    let left: Vec<(String, Option<px_api::ProcessRole>)> = kept(&store, "a.plugin")
        .await
        .into_iter()
        .map(|m| (m.message, m.process))
        .collect();
    let admin = Some(px_api::ProcessRole::Admin);
    assert_eq!(
        left,
        [("6 days old".into(), admin), ("0 days old".into(), None)],
        "kept lines keep the process that wrote them"
    );
    assert_eq!(
        px_core::retention::prune(&store, now + 7 * DAY, 7)
            .await
            .unwrap()
            .events,
        2,
        "a week later the rest goes"
    );
}

#[tokio::test]
async fn retention_prunes_kept_messages_with_the_audit_log() {
    let (_dir, stores) = temp_stores().await;
    for store in stores {
        pruned(store).await;
    }
}

/// On a single-threaded runtime the writer cannot run while the test
/// publishes, so it falls behind by design: publishing still never waits,
/// and everything is either written or counted as dropped.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_writer_drops_and_counts_instead_of_blocking() {
    let (_dir, mut stores) = temp_stores().await;
    let store = stores.swap_remove(0);
    let bus = Arc::new(EventBus::new());
    let log = EventLog::spawn(store.clone(), bus.clone(), Bounds::default());
    let total = LIVE_CAPACITY + 1_000;
    let started = std::time::Instant::now();
    publish(&bus, "fast.plugin", total, 8);
    assert!(started.elapsed() < Duration::from_secs(5));
    log.stop().await;
    assert_eq!(log.dropped(), 1_000);
    assert_eq!(log.written(), LIVE_CAPACITY as u64);
    assert_eq!(kept(&store, "fast.plugin").await.len(), LIVE_CAPACITY);
}
