use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use px_runtime::{RuntimeError, Spawner};

use super::{alive, collecting_spec, eventually, first_pid, sh, stat_field, stdout_of};

#[tokio::test]
async fn environment_is_exactly_the_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spec, lines) = collecting_spec("env", &[], dir.path());
    spec.env.insert("PX_PLUGIN_ID".into(), "demo".into());
    spec.env.insert("WEIRD".into(), "a b=c".into());
    assert!(
        std::env::var_os("CARGO_MANIFEST_DIR").is_some(),
        "test runs under cargo"
    );

    let expected: BTreeSet<String> = ["PATH=/usr/bin:/bin", "PX_PLUGIN_ID=demo", "WEIRD=a b=c"]
        .map(String::from)
        .into();

    let process = Spawner::new().spawn(spec.clone()).await.unwrap();
    assert!(process.exited().await.success());
    let mut seen: BTreeSet<String> = stdout_of(&lines).into_iter().collect();
    if process.cgroup().is_none() {
        // no writable cgroup here: the fallback's marker is the one addition
        seen.retain(|v| !v.starts_with("PX_RUNTIME_TREE="));
    }
    assert_eq!(seen, expected);

    lines.lock().unwrap().clear();
    let process = Spawner::new().without_cgroups().spawn(spec).await.unwrap();
    assert!(process.exited().await.success());
    let seen: BTreeSet<String> = stdout_of(&lines).into_iter().collect();
    let markers: Vec<&String> = seen.difference(&expected).collect();
    assert_eq!(markers.len(), 1, "{seen:?}");
    assert!(markers[0].starts_with("PX_RUNTIME_TREE="), "{seen:?}");
}

#[tokio::test]
async fn runs_in_cwd_in_its_own_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, lines) = sh("pwd; exec sleep 30", dir.path());
    let process = Spawner::new().spawn(spec).await.unwrap();
    let pid = process.pid();

    assert!(eventually(Duration::from_secs(5), || !stdout_of(&lines).is_empty()).await);
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(stdout_of(&lines)[0], cwd.to_str().unwrap());
    assert_eq!(stat_field(pid, 1), Some(std::process::id()), "parent is us");
    assert_eq!(stat_field(pid, 2), Some(pid), "pgid == pid");

    let status = process.stop(Duration::from_secs(5)).await;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}

#[tokio::test]
async fn program_with_a_slash_is_relative_to_cwd() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    let script = dir.path().join("bin/start.sh");
    std::fs::write(&script, "#!/bin/sh\necho started \"$1\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let spawner = Spawner::new();
    for program in ["bin/start.sh", "./bin/start.sh"] {
        let (spec, lines) = collecting_spec(program, &["x"], dir.path());
        let process = spawner.spawn(spec).await.unwrap();
        assert!(process.exited().await.success());
        assert_eq!(stdout_of(&lines), ["started x"]);
    }
}

#[tokio::test]
async fn a_bare_name_in_cwd_runs_and_a_relative_cwd_works() {
    // the Rust template's entry is `x`, a file in the revision
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("x");
    std::fs::write(&script, "#!/bin/sh\necho started \"$1\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let spawner = Spawner::new();
    let (spec, lines) = collecting_spec("x", &["bare"], dir.path());
    assert!(spawner.spawn(spec).await.unwrap().exited().await.success());
    assert_eq!(stdout_of(&lines), ["started bare"]);

    // a data dir relative to Core's cwd (`./.powerx`) gives a relative cwd
    let relative = dir
        .path()
        .strip_prefix(std::env::current_dir().unwrap())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|_| {
            let up = std::env::current_dir().unwrap().components().count();
            let mut rel = std::path::PathBuf::new();
            for _ in 1..up {
                rel.push("..");
            }
            rel.join(dir.path().strip_prefix("/").unwrap())
        });
    assert!(relative.is_relative(), "{}", relative.display());
    for program in ["./x", "x"] {
        let (spec, lines) = collecting_spec(program, &["rel"], &relative);
        let process = spawner.spawn(spec).await.unwrap();
        assert!(process.exited().await.success(), "{program}");
        assert_eq!(stdout_of(&lines), ["started rel"], "{program}");
    }
}

#[tokio::test]
async fn missing_programs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let spawner = Spawner::new();

    let (spec, _) = collecting_spec("no-such-program-px", &[], dir.path());
    let error = spawner.spawn(spec).await.unwrap_err();
    assert!(matches!(error, RuntimeError::NotFound { .. }), "{error:?}");

    // only the plugin's PATH counts, not Core's
    let (mut spec, _) = collecting_spec("sh", &[], dir.path());
    spec.env.remove("PATH");
    let error = spawner.spawn(spec).await.unwrap_err();
    assert!(matches!(error, RuntimeError::NotFound { .. }), "{error:?}");

    let (spec, _) = collecting_spec("./missing.sh", &[], dir.path());
    let error = spawner.spawn(spec).await.unwrap_err();
    assert!(matches!(error, RuntimeError::Spawn { .. }), "{error:?}");
}

#[tokio::test]
async fn stop_escalates_to_sigkill_for_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    // ignored signals stay ignored across fork and exec: both ignore SIGTERM
    let (spec, lines) = sh("trap '' TERM; sleep 300 & echo $!; wait", dir.path());
    let process = Spawner::new().spawn(spec).await.unwrap();
    let grandchild = first_pid(&lines).await;
    assert!(alive(grandchild));

    let start = Instant::now();
    let status = process.stop(Duration::from_millis(300)).await;
    let took = start.elapsed();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(eventually(Duration::from_secs(5), || !alive(grandchild)).await);

    // idempotent
    let again = process.stop(Duration::from_secs(10)).await;
    assert_eq!(again.signal(), Some(libc::SIGKILL));
    assert_eq!(process.exit_status(), Some(status));
}

#[tokio::test]
async fn leftovers_of_the_group_die_with_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, lines) = sh("sleep 300 & echo $!; sleep 0.2; exit 3", dir.path());
    let process = Spawner::new().spawn(spec).await.unwrap();
    let grandchild = first_pid(&lines).await;
    assert_eq!(process.exited().await.code(), Some(3));
    assert!(eventually(Duration::from_secs(5), || !alive(grandchild)).await);
}

/// Regression: spawning from a tokio blocking-pool thread made `PR_SET_PDEATHSIG`
/// kill plugins when that thread exited after ~10 s idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_outlive_the_threads_that_asked_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let spawner = Spawner::new();

    let (spec, _) = sh("exec sleep 60", dir.path());
    let from_task = {
        let spawner = spawner.clone();
        tokio::spawn(async move { spawner.spawn(spec).await })
            .await
            .unwrap()
            .unwrap()
    };
    let (spec, _) = sh("exec sleep 60", dir.path());
    let handle = tokio::runtime::Handle::current();
    let from_blocking = tokio::task::spawn_blocking(move || handle.block_on(spawner.spawn(spec)))
        .await
        .unwrap()
        .unwrap();

    tokio::time::sleep(Duration::from_secs(12)).await;
    for process in [&from_task, &from_blocking] {
        assert_eq!(process.exit_status(), None);
        assert!(alive(process.pid()));
        process.stop(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn spawning_is_cheap() {
    let dir = tempfile::tempdir().unwrap();
    let spawner = Spawner::new();
    let mut spawn_times = Vec::new();
    let mut exit_times = Vec::new();
    for _ in 0..50 {
        let (spec, _) = collecting_spec("true", &[], dir.path());
        let start = Instant::now();
        let process = spawner.spawn(spec).await.unwrap();
        spawn_times.push(start.elapsed());
        assert!(process.exited().await.success());
        exit_times.push(start.elapsed());
    }
    spawn_times.sort();
    exit_times.sort();
    println!(
        "spawn: p50 {:?} p95 {:?}; spawn to observed exit of `true`: p50 {:?} p95 {:?}",
        spawn_times[25], spawn_times[47], exit_times[25], exit_times[47]
    );
    assert!(
        spawn_times[25] < Duration::from_millis(50),
        "{:?}",
        spawn_times[25]
    );
}
