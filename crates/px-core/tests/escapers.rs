//! A plugin child that escapes its process group (`setsid`) ends with the
//! plugin: on uninstall, when a hot reload retires the old revision, and when
//! the plugin crashes and is restarted.

mod common;

use std::time::Duration;

use common::{Core, HELLO, eventually, mode};
use serde_json::Value;

/// The hello plugin started through `/bin/sh`, which first leaves behind a
/// `sleep` in a session of its own.
fn with_escaper(then: impl FnOnce(&mut Value)) -> impl FnOnce(&mut Value) {
    move |m: &mut Value| {
        then(m);
        m["runtime"]["entry"] = "/bin/sh".into();
        m["runtime"]["args"] = serde_json::json!([
            "-c",
            "/usr/bin/setsid /bin/sleep 300 & \
             p=/usr/bin/python3; [ -x $p ] || p=python3; exec $p -u server.py"
        ]);
    }
}

/// `(pid, PX_PLUGIN_REVISION)` of this Core's escaped `sleep`s that still run.
fn escapers(core: &Core) -> Vec<(u32, String)> {
    common::plugin_pids(HELLO, core.data.path())
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.starts_with(b"/bin/sleep"))
        })
        .filter_map(|pid| {
            let revision = common::environ(pid)
                .into_iter()
                .find(|(k, _)| k == "PX_PLUGIN_REVISION")?
                .1;
            Some((pid, revision))
        })
        .collect()
}

async fn one_escaper(core: &Core, revision: &str) -> u32 {
    eventually("the escaper to start", Duration::from_secs(5), || {
        escapers(core).iter().any(|(_, r)| r == revision)
    })
    .await;
    let found: Vec<u32> = escapers(core)
        .into_iter()
        .filter(|(_, r)| r == revision)
        .map(|(pid, _)| pid)
        .collect();
    assert_eq!(found.len(), 1, "{:?}", escapers(core));
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setsid_child_ends_with_uninstall() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", with_escaper(|_| {}));
    assert_eq!(core.install_dir(&dir).await.0, 200);
    one_escaper(&core, "1").await;

    let url = format!("{}/api/plugins/dev/install?plugin_id={HELLO}", core.url);
    let response = core.authed(core.client.delete(&url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    eventually("nothing of the plugin left", Duration::from_secs(2), || {
        common::plugin_pids(HELLO, core.data.path()).is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_reload_ends_the_old_revisions_setsid_child() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", with_escaper(|_| {}));
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let old = one_escaper(&core, "1").await;

    let dir = core.plugin("hello", HELLO, "1.0.1", with_escaper(|_| {}));
    assert_eq!(core.install_dir(&dir).await.0, 200);
    one_escaper(&core, "2").await;
    // the old revision is stopped after probation and draining
    eventually(
        "the old revision's escaper to end",
        Duration::from_secs(10),
        || {
            escapers(&core)
                .iter()
                .all(|(pid, r)| r != "1" && *pid != old)
        },
    )
    .await;
    assert_eq!(
        core.wait_serving(HELLO, Duration::from_secs(2)).await["version"],
        "1.0.1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_restart_ends_the_crashed_runs_setsid_child() {
    let core = Core::start().await;
    let dir = core.plugin(
        "hello",
        HELLO,
        "1.0.0",
        with_escaper(mode("crash_after:1500")),
    );
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let first = one_escaper(&core, "1").await;

    // the crash takes the escaper with it; the restart brings a new one
    eventually(
        "the crashed run's escaper to end",
        Duration::from_secs(5),
        || !escapers(&core).iter().any(|(pid, _)| *pid == first),
    )
    .await;
    eventually(
        "a restart with its own escaper",
        Duration::from_secs(5),
        || escapers(&core).iter().any(|(pid, _)| *pid != first),
    )
    .await;
}
