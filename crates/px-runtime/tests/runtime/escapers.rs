//! Descendants that leave the process group (`setsid`) still end with the
//! process: with a cgroup per process, and with the fallback forced.

use std::path::Path;
use std::time::Duration;

use px_runtime::Spawner;

use super::{alive, eventually, first_pid, sh};

/// Starts two escapers (one keeps the environment, one clears it), then
/// prints their pids and `$$`; exits with 3 after `linger` seconds.
fn escaping(linger: &str) -> String {
    format!(
        "setsid sleep 300 & a=$!; env -i /usr/bin/setsid /bin/sleep 301 & b=$!; \
         echo $a; echo $b; sleep {linger}; exit 3"
    )
}

/// Live processes (zombies skipped) whose working directory is `dir`.
fn running_in(dir: &Path) -> Vec<u32> {
    let dir = std::fs::canonicalize(dir).unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir))
        .filter(|&pid| alive(pid))
        .collect()
}

/// A spawner in a process that is child subreaper, as Core is.
fn spawner(cgroups: bool) -> Spawner {
    px_runtime::become_subreaper().unwrap();
    let spawner = Spawner::new();
    if cgroups {
        spawner
    } else {
        spawner.without_cgroups()
    }
}

/// The escapers' pids, once both run in their own sessions.
async fn escapers(lines: &super::Lines) -> [u32; 2] {
    let first = first_pid(lines).await;
    assert!(
        eventually(Duration::from_secs(5), || super::stdout_of(lines).len()
            >= 2)
        .await
    );
    let second: u32 = super::stdout_of(lines)[1].parse().unwrap();
    for pid in [first, second] {
        assert!(
            eventually(Duration::from_secs(5), || super::stat_field(pid, 3)
                == Some(pid))
            .await,
            "{pid} is a session leader"
        );
    }
    [first, second]
}

fn expect_contained(process: &px_runtime::Process, cgroups: bool) {
    if cgroups {
        assert!(
            process.cgroup().is_some() || std::env::var_os("PX_RUNTIME_NO_CGROUP").is_some(),
            "no cgroup on this machine: run with PX_RUNTIME_NO_CGROUP=1 to test only the fallback"
        );
    } else {
        assert_eq!(process.cgroup(), None);
    }
}

async fn stop_leaves_nothing(cgroups: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (spec, lines) = sh(&escaping("300"), dir.path());
    let process = spawner(cgroups).spawn(spec).await.unwrap();
    expect_contained(&process, cgroups);
    let cgroup = process.cgroup().map(Path::to_owned);
    let [a, b] = escapers(&lines).await;
    assert!(alive(a) && alive(b));

    process.stop(Duration::from_secs(2)).await;
    assert_eq!(running_in(dir.path()), Vec::<u32>::new(), "left after stop");
    if let Some(cgroup) = cgroup {
        assert!(!cgroup.exists(), "{} removed", cgroup.display());
    }
}

async fn leader_exit_leaves_nothing(cgroups: bool) {
    let dir = tempfile::tempdir().unwrap();
    // longer than the fallback's rescan interval, so it has seen the escaper
    // that cleared its environment before that one's parent exits
    let (spec, lines) = sh(&escaping("1.5"), dir.path());
    let process = spawner(cgroups).spawn(spec).await.unwrap();
    expect_contained(&process, cgroups);
    let [a, b] = escapers(&lines).await;
    assert!(alive(a) && alive(b));

    assert_eq!(process.exited().await.code(), Some(3));
    assert_eq!(running_in(dir.path()), Vec::<u32>::new(), "left after exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setsid_descendants_end_with_stop_in_a_cgroup() {
    stop_leaves_nothing(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setsid_descendants_end_with_stop_without_cgroups() {
    stop_leaves_nothing(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setsid_descendants_end_with_the_leader_in_a_cgroup() {
    leader_exit_leaves_nothing(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setsid_descendants_end_with_the_leader_without_cgroups() {
    leader_exit_leaves_nothing(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leftover_record_ends_escapers_when_core_is_gone() {
    for cgroups in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let (spec, lines) = sh(
            "setsid sleep 300 & echo $!; echo $!; exec sleep 300",
            dir.path(),
        );
        let process = spawner(cgroups).spawn(spec).await.unwrap();
        let [escaper, _] = escapers(&lines).await;
        let text = process.leftover().unwrap().to_string();
        assert_eq!(
            text.contains("cgroup="),
            process.cgroup().is_some(),
            "{text}"
        );
        assert_eq!(
            text.contains("marker="),
            process.cgroup().is_none(),
            "{text}"
        );

        // what the next Core does with the pid file of a dead one
        let read = px_runtime::Leftover::parse(&text).unwrap();
        assert!(read.kill() > 0, "cgroups: {cgroups}");
        assert!(!alive(escaper), "cgroups: {cgroups}");
        assert_eq!(
            running_in(dir.path()),
            Vec::<u32>::new(),
            "cgroups: {cgroups}"
        );
        process.exited().await;
        assert_eq!(read.kill(), 0, "nothing left the second time");
    }
}
