//! The resolved revision: what Core runs of a revision is fixed at `stage`
//! and read back on rollback and recovery, not parsed again from the
//! revision's files (which a developer, a disk or a newer Core may change).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Core, HELLO};

/// Breaks the manifest in revision `revision`'s files.
fn break_manifest(data: &Path, revision: u64) {
    let file = data
        .join("plugins")
        .join(HELLO)
        .join("revisions")
        .join(revision.to_string())
        .join("manifest.json");
    assert!(file.is_file(), "{} exists", file.display());
    std::fs::write(file, "{ not json").unwrap();
}

#[tokio::test]
async fn rollback_runs_what_was_resolved_at_stage() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let dir = core.plugin("hello", HELLO, "2.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    break_manifest(core.data.path(), 1);

    let response = core
        .authed(
            core.client
                .post(format!("{}/api/plugins/{HELLO}/rollback", core.url))
                .json(&serde_json::json!({ "revision": 1 })),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let (_, answer) = core.proxy(HELLO, "/hello").await;
    assert_eq!(answer["version"], "1.0.0");
}

#[tokio::test]
async fn recovery_starts_what_was_resolved_at_stage() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let (data, work) = core.stop().await;
    break_manifest(data.path(), 1);

    let core = Core::start_in(data, work, common::Options::default()).await;
    let answer = core.wait_serving(HELLO, Duration::from_secs(10)).await;
    assert_eq!(answer["version"], "1.0.0", "{answer}");
}
