//! Several Cores on one PostgreSQL database, in one process: each Core runs
//! its own plugin processes and follows installs, reloads, rollbacks and
//! uninstalls made through the others (LISTEN/NOTIFY), installs of one
//! plugin take turns across Cores (advisory locks), and a Core that stops
//! leaves the others serving. Each test gets a fresh database.

mod common;
mod pg;

use std::time::{Duration, Instant};

use common::{Core, HELLO, Options};
use px_api::InstallStatus;
use serde_json::Value;

/// How soon the other Cores must follow (SPEC: within a second).
const FOLLOW: Duration = Duration::from_secs(1);
/// How long a test waits when following fast is not what it checks.
const CATCH_UP: Duration = Duration::from_secs(5);

fn options() -> Options {
    Options {
        probation_ms: 100,
        ..Options::default()
    }
}

async fn core_on(db: &pg::TestDb) -> Core {
    let url = db.url.clone();
    let core = Core::start_configured(options(), move |config| {
        config.database_url = Some(url);
    })
    .await;
    let (status, _) = core.get("/api/plugins").await;
    assert_eq!(status, 200, "Core on PostgreSQL answers");
    core
}

/// The revision `GET /_p/hello/api/hello` reports, or the HTTP status when not 200.
async fn served(core: &Core) -> Result<u64, u16> {
    let (status, body) = core.proxy(HELLO, "/hello").await;
    match status {
        200 => Ok(body["revision"].as_u64().unwrap()),
        other => Err(other),
    }
}

/// Waits until `core` serves `want` (`Err(404)` = not installed); returns how long it took.
async fn until_serves(core: &Core, want: Result<u64, u16>, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = served(core).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{} serves {got:?}, not {want:?}, after {limit:?}",
            core.url
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn audit(core: &Core, action: &str) -> Vec<Value> {
    let (status, page) = core
        .get(&format!("/api/audit?plugin_id={HELLO}&action={action}"))
        .await;
    assert_eq!(status, 200);
    page["entries"].as_array().unwrap().clone()
}

async fn installs_counted(core: &Core) -> u64 {
    let text = core
        .client
        .get(format!("{}/metrics", core.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("plugin_dev_install_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn install_through_a_serves_through_b_with_its_own_process() {
    let db = pg::TestDb::create().await;
    let a = core_on(&db).await;
    let b = core_on(&db).await;
    let dir = a.plugin("hello", HELLO, "1.0.0", |_| {});
    let (status, report) = a.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    assert_eq!(report.revision, Some(1));
    let took = until_serves(&b, Ok(1), FOLLOW).await;
    eprintln!("B followed A's install in {took:?}");

    let on_a = common::plugin_pids(HELLO, a.data.path());
    let on_b = common::plugin_pids(HELLO, b.data.path());
    assert_eq!((on_a.len(), on_b.len()), (1, 1), "one process per Core");
    assert_ne!(on_a, on_b);
    let (_, detail) = b.get(&format!("/api/plugins/{HELLO}")).await;
    assert_eq!(detail["state"], "active", "{detail:#}");

    // one audit row and one counted install, by the Core that did it
    assert_eq!(audit(&a, "install").await.len(), 1);
    assert_eq!(audit(&b, "install").await.len(), 1, "same database");
    assert_eq!(
        (installs_counted(&a).await, installs_counted(&b).await),
        (1, 0)
    );
    a.stop().await;
    b.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn reload_rollback_and_uninstall_through_b_are_followed_by_a() {
    let db = pg::TestDb::create().await;
    let a = core_on(&db).await;
    let b = core_on(&db).await;
    let first = a.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(a.install_dir(&first).await.0, 200);
    until_serves(&b, Ok(1), FOLLOW).await;

    let second = b.plugin("hello", HELLO, "1.1.0", |_| {});
    let (status, report) = b.install_dir(&second).await;
    assert_eq!((status, report.revision), (200, Some(2)), "{report:?}");
    let took = until_serves(&a, Ok(2), FOLLOW).await;
    eprintln!("A followed B's reload in {took:?}");
    let (_, hello) = a.proxy(HELLO, "/hello").await;
    assert_eq!(hello["version"], "1.1.0");

    let back = b
        .authed(
            b.client
                .post(format!("{}/api/plugins/{HELLO}/rollback", b.url)),
        )
        .json(&serde_json::json!({"revision": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
    let took = until_serves(&a, Ok(1), FOLLOW).await;
    eprintln!("A followed B's rollback in {took:?}");

    let gone = b
        .authed(b.client.delete(format!(
            "{}/api/plugins/dev/install?plugin_id={HELLO}",
            b.url
        )))
        .send()
        .await
        .unwrap();
    assert!(gone.status().is_success(), "{}", gone.status());
    let took = until_serves(&a, Err(404), FOLLOW).await;
    eprintln!("A followed B's uninstall in {took:?}");
    common::eventually(
        "A's process and files to go",
        Duration::from_secs(5),
        || {
            common::plugin_pids(HELLO, a.data.path()).is_empty()
                && !a.data.path().join("plugins").join(HELLO).exists()
        },
    )
    .await;
    assert_eq!(a.get(&format!("/api/plugins/{HELLO}")).await.0, 404);
    a.stop().await;
    b.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn concurrent_installs_of_one_plugin_take_turns_across_cores() {
    let db = pg::TestDb::create().await;
    let a = core_on(&db).await;
    let b = core_on(&db).await;
    let on_a = a.plugin("hello", HELLO, "1.0.0", |_| {});
    let on_b = b.plugin("hello", HELLO, "2.0.0", |_| {});
    let ((status_a, report_a), (status_b, report_b)) =
        tokio::join!(a.install_dir(&on_a), b.install_dir(&on_b));
    assert_eq!(
        (status_a, status_b),
        (200, 200),
        "{report_a:?} {report_b:?}"
    );
    let mut revisions = [report_a.revision.unwrap(), report_b.revision.unwrap()];
    revisions.sort_unstable();
    assert_eq!(revisions, [1, 2], "distinct revision numbers");

    // the later install was staged only after the earlier one had finished
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT revision, status, created_at, finished_at FROM plugin_revisions \
         WHERE plugin_id = $1 ORDER BY revision",
    )
    .bind(HELLO)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(rows.iter().all(|r| r.1 == "active"), "{rows:?}");
    assert!(rows[1].2 >= rows[0].3, "overlapping installs: {rows:?}");
    eprintln!(
        "revision 1 ran {}..{}, revision 2 staged at {} (waited for the lock)",
        rows[0].2, rows[0].3, rows[1].2
    );

    // both Cores end on the last one
    let last = if report_a.revision == Some(2) {
        "1.0.0"
    } else {
        "2.0.0"
    };
    until_serves(&a, Ok(2), CATCH_UP).await;
    until_serves(&b, Ok(2), CATCH_UP).await;
    assert_eq!(b.proxy(HELLO, "/hello").await.1["version"], last);
    a.stop().await;
    b.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn b_keeps_serving_when_a_stops() {
    let db = pg::TestDb::create().await;
    let a = core_on(&db).await;
    let b = core_on(&db).await;
    let dir = a.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(a.install_dir(&dir).await.0, 200);
    until_serves(&b, Ok(1), CATCH_UP).await;

    let a_data = a.data.path().to_owned();
    let stopping = tokio::spawn(a.stop());
    let mut asked = 0;
    while !stopping.is_finished() {
        assert_eq!(served(&b).await, Ok(1), "B serves while A stops");
        asked += 1;
    }
    let _dirs = stopping.await.unwrap();
    assert!(asked > 0);
    assert!(
        common::plugin_pids(HELLO, &a_data).is_empty(),
        "A stopped its own"
    );
    assert_eq!(served(&b).await, Ok(1));

    // B alone can still change the plugin (no lock left behind)
    let newer = b.plugin("hello", HELLO, "1.1.0", |_| {});
    let (status, report) = b.install_dir(&newer).await;
    assert_eq!((status, report.status), (200, InstallStatus::Active));
    assert_eq!(served(&b).await, Ok(2));
    b.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_late_core_fetches_revisions_from_the_database() {
    let db = pg::TestDb::create().await;
    let a = core_on(&db).await;
    let pxp = common::pack(&a.plugin("hello", HELLO, "1.0.0", |_| {}));
    assert_eq!(a.install_pxp(pxp).await.0, 200);
    // B starts afterwards: it has nothing on disk and unpacks the stable revision
    let b = core_on(&db).await;
    let took = until_serves(&b, Ok(1), Duration::from_secs(10)).await;
    eprintln!("a new Core served the stable revision {took:?} after its start");
    assert!(
        b.data
            .path()
            .join("plugins")
            .join(HELLO)
            .join("revisions/1/manifest.json")
            .is_file()
    );
    // and B can roll back to a revision only A ever had on disk
    let second = a.plugin("hello", HELLO, "1.1.0", |_| {});
    assert_eq!(a.install_dir(&second).await.0, 200);
    until_serves(&b, Ok(2), CATCH_UP).await;
    let back = b
        .authed(
            b.client
                .post(format!("{}/api/plugins/{HELLO}/rollback", b.url)),
        )
        .json(&serde_json::json!({"revision": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
    until_serves(&a, Ok(1), CATCH_UP).await;
    a.stop().await;
    b.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn following_survives_lost_connections() {
    let db = pg::TestDb::create().await;
    let a = core_on(&db).await;
    let b = core_on(&db).await;
    assert!(
        db.terminate_connections().await >= 2,
        "both Cores were connected"
    );
    let dir = a.plugin("hello", HELLO, "1.0.0", |_| {});
    let (status, report) = a.install_dir(&dir).await;
    assert_eq!(status, 200, "A's pool reconnected: {report:?}");
    // B's feed reconnects and resyncs even if this notification was lost
    until_serves(&b, Ok(1), Duration::from_secs(5)).await;
    db.terminate_connections().await;
    let newer = a.plugin("hello", HELLO, "1.1.0", |_| {});
    assert_eq!(a.install_dir(&newer).await.0, 200);
    until_serves(&b, Ok(2), Duration::from_secs(5)).await;
    a.stop().await;
    b.stop().await;
    db.drop_db().await;
}
