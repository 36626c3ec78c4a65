use std::time::Duration;

use px_runtime::{Spawner, become_subreaper, spawn_orphan_reaper};

use super::{eventually, first_pid, proc_state, sh, stat_field};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_descendants_are_reaped() {
    become_subreaper().unwrap();
    let reaper = spawn_orphan_reaper();
    let dir = tempfile::tempdir().unwrap();
    let spawner = Spawner::new();

    // killed with the group when its parent exits, then re-parented to us
    let (spec, lines) = sh("sleep 300 & echo $!; exit 0", dir.path());
    let in_group = spawner.spawn(spec).await.unwrap();
    let in_group_pid = first_pid(&lines).await;
    // escaped into its own session, its parent gone while the plugin runs:
    // re-parented to us, then killed with the plugin
    let (spec, lines) = sh("(setsid sleep 300 & echo $!); sleep 1; exit 0", dir.path());
    let escaped = spawner.spawn(spec).await.unwrap();
    let escaped_pid = first_pid(&lines).await;
    assert!(
        eventually(Duration::from_secs(2), || stat_field(escaped_pid, 1)
            == Some(std::process::id()))
        .await,
        "re-parented to us, the subreaper: {:?} {:?}",
        proc_state(escaped_pid),
        stat_field(escaped_pid, 1)
    );

    assert!(in_group.exited().await.success());
    assert!(escaped.exited().await.success());
    for pid in [in_group_pid, escaped_pid] {
        assert!(
            eventually(Duration::from_secs(6), || proc_state(pid).is_none()).await,
            "{pid} left as {:?}",
            proc_state(pid)
        );
    }
    reaper.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reaper_never_steals_an_exit_status() {
    become_subreaper().unwrap();
    let reaper = spawn_orphan_reaper();
    let dir = tempfile::tempdir().unwrap();
    let spawner = Spawner::new();

    let mut processes = Vec::new();
    for i in 0..20 {
        let (spec, _) = sh(&format!("sleep 0.0{}; exit {}", i % 10, 10 + i), dir.path());
        processes.push(spawner.spawn(spec).await.unwrap());
    }
    // a child of Core that px-runtime did not start (Core's own process group)
    let other = tokio::process::Command::new("sh")
        .args(["-c", "exit 5"])
        .status();
    assert_eq!(other.await.unwrap().code(), Some(5));
    for (i, process) in processes.iter().enumerate() {
        assert_eq!(
            process.exited().await.code(),
            Some(10 + i32::try_from(i).unwrap())
        );
    }
    reaper.abort();
}
