//! A plugin child that escapes its process group (`setsid`) never outlives
//! the real `powerx` binary: not a `SIGTERM` of Core, and not a `SIGKILL`
//! (the next Core ends it). Each case runs with a cgroup per plugin process
//! and with the fallback forced (`PX_RUNTIME_NO_CGROUP=1`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ID, Powerx, plugin_processes, stat, write_plugin};

mod common;

/// A Core over `data` with dev mode and a policy allowing `work`.
fn serve(data: &Path, work: &Path, cgroups: bool) -> Powerx {
    let policy = work.join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "dev:\n  allowed_dirs: [\"{}\"]\n  probation_ms: 200\n",
            work.display()
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_powerx"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--dev", "--data-dir"])
        .arg(data)
        .arg("--policy")
        .arg(&policy)
        .env("PX_LOG", "warn")
        .env_remove("PX_PLUGIN_DEV_MODE")
        .env_remove("PX_RUNTIME_NO_CGROUP")
        .stdout(Stdio::piped());
    if !cgroups {
        command.env("PX_RUNTIME_NO_CGROUP", "1");
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("powerx exited before listening")
            .unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Powerx { child, url }
}

/// Installs hello-python started through `/bin/sh`, which first leaves a
/// `sleep` behind in a session of its own.
async fn install_with_escaper(core: &Powerx, data: &Path, work: &Path) {
    let plugin = work.join("hello");
    write_plugin(&plugin, "1.0.0", "");
    let manifest_path = plugin.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["runtime"]["entry"] = "/bin/sh".into();
    manifest["runtime"]["args"] = serde_json::json!([
        "-c",
        "/usr/bin/setsid /bin/sleep 300 & \
         p=/usr/bin/python3; [ -x $p ] || p=python3; exec $p -u server.py"
    ]);
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();

    let token = common::admin_token(data);
    let response = reqwest::Client::new()
        .post(format!("{}/api/plugins/dev/install", core.url))
        .bearer_auth(token)
        .json(&serde_json::json!({"source": {"kind": "dir", "path": plugin}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    wait_for("the plugin and its escaper", Duration::from_secs(5), || {
        escapers(data).len() == 1 && plugin_processes(data).len() == 2
    });
}

/// (pid, start time) of the escaped `sleep`s of plugins in `data`.
fn escapers(data: &Path) -> Vec<(u32, u64)> {
    plugin_processes(data)
        .into_iter()
        .filter(|(pid, _)| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.starts_with(b"/bin/sleep"))
        })
        .collect()
}

/// Waits until Core serves the plugin (so it is past its start and handles `SIGTERM`).
async fn wait_serving(core: &Powerx) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let url = format!("{}/_p/{ID}/api/hello", core.url);
    loop {
        let response = reqwest::get(&url).await;
        if response.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the plugin is never served again"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The cgroup (or marker) lines of the pid files Core keeps in `<data>/run`.
fn recorded(data: &Path) -> Vec<String> {
    std::fs::read_dir(data.join("run"))
        .unwrap()
        .flatten()
        .flat_map(|entry| {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            text.lines().skip(1).map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

async fn sigterm_leaves_nothing(cgroups: bool) {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut core = serve(data.path(), work.path(), cgroups);
    install_with_escaper(&core, data.path(), work.path()).await;

    terminate(&mut core);
    wait_for("nothing of the plugin left", Duration::from_secs(2), || {
        plugin_processes(data.path()).is_empty()
    });
}

/// `SIGTERM` to Core; waits for its successful exit.
fn terminate(core: &mut Powerx) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(core.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = core.child.wait().unwrap();
    assert!(exit.success(), "powerx exited with {exit}");
}

async fn sigkill_then_restart_leaves_nothing_of_the_old_core(cgroups: bool) {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut core = serve(data.path(), work.path(), cgroups);
    install_with_escaper(&core, data.path(), work.path()).await;
    let record = recorded(data.path());
    let key = if cgroups { "cgroup=" } else { "marker=" };
    assert!(record.iter().any(|l| l.starts_with(key)), "{record:?}");
    let cgroup = record
        .iter()
        .find_map(|l| l.strip_prefix("cgroup="))
        .map(PathBuf::from);

    core.child.kill().unwrap();
    core.child.wait().unwrap();
    // PR_SET_PDEATHSIG ends the plugin; its escaper lives on
    wait_for(
        "the plugin to die with Core",
        Duration::from_secs(5),
        || plugin_processes(data.path()).len() == 1,
    );
    let [(old, _)] = escapers(data.path())[..] else {
        panic!("the escaper outlives the killed Core");
    };

    let mut core = serve(data.path(), work.path(), cgroups);
    let started = stat(core.child.id()).unwrap().1;
    wait_serving(&core).await;
    // the stable revision comes back with a new escaper; the old one is gone
    wait_for(
        "only the new Core's processes",
        Duration::from_secs(10),
        || {
            let now = plugin_processes(data.path());
            now.len() == 2 && now.iter().all(|(_, start)| *start >= started)
        },
    );
    assert!(stat(old).is_none_or(|(state, start)| state == 'Z' || start >= started));
    if let Some(cgroup) = cgroup {
        assert!(
            !cgroup.exists(),
            "the old Core's {} is removed",
            cgroup.display()
        );
    }
    terminate(&mut core);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_sigterm_leaves_no_escaper_with_cgroups() {
    sigterm_leaves_nothing(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_sigterm_leaves_no_escaper_without_cgroups() {
    sigterm_leaves_nothing(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_sigkill_then_restart_leaves_no_escaper_with_cgroups() {
    sigkill_then_restart_leaves_nothing_of_the_old_core(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_sigkill_then_restart_leaves_no_escaper_without_cgroups() {
    sigkill_then_restart_leaves_nothing_of_the_old_core(false).await;
}
