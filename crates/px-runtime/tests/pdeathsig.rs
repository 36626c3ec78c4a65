//! A plugin dies with Core, and sees nothing of Core's environment.
//!
//! This binary runs itself a second time as a "fake Core" (switched by an
//! environment variable) that spawns a plugin and prints its pid; the test
//! then `SIGKILL`s the fake Core and expects the plugin to die with it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use px_runtime::{LogSink, SpawnSpec, Spawner};

const FAKE_CORE: &str = "PX_RUNTIME_TEST_FAKE_CORE";
const SECRET: &str = "PX_SECRET_TEST";

fn main() {
    if std::env::var_os(FAKE_CORE).is_some() {
        fake_core();
    }
    print!("test plugin_dies_with_core_and_sees_none_of_its_environment ... ");
    plugin_dies_with_core_and_sees_none_of_its_environment();
    println!("ok");
}

fn plugin_dies_with_core_and_sees_none_of_its_environment() {
    let mut core = Command::new(std::env::current_exe().unwrap())
        .env(FAKE_CORE, "1")
        .env(SECRET, "hunter2")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(core.stdout.take().unwrap()).lines();
    let pid: u32 = lines
        .next()
        .unwrap()
        .unwrap()
        .strip_prefix("pid=")
        .unwrap()
        .parse()
        .unwrap();
    let secret = lines.next().unwrap().unwrap();
    assert_eq!(
        secret, "secret=none",
        "Core's environment leaked into the plugin"
    );
    assert!(alive(pid), "plugin runs while Core runs");

    core.kill().unwrap();
    core.wait().unwrap();
    let start = Instant::now();
    while alive(pid) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!alive(pid), "plugin {pid} outlived Core");
    println!("(plugin died {:?} after Core) ", start.elapsed());
}

/// Spawns the plugin from a task on a worker thread (not the spawner thread's
/// caller), prints `pid=N` and the plugin's first line, then waits to be killed.
fn fake_core() -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let spawner = Spawner::new();
        let (first_line, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sink: LogSink = Arc::new(move |_, line| {
            let _ = first_line.send(line);
        });
        let spec = SpawnSpec {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                format!("echo secret=${{{SECRET}:-none}}; exec sleep 300"),
            ],
            cwd: std::env::temp_dir(),
            env: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
            log_sink: sink,
        };
        let process = tokio::spawn(async move { spawner.spawn(spec).await })
            .await
            .unwrap()
            .unwrap();
        println!("pid={}", process.pid());
        println!("{}", rx.recv().await.unwrap());
        std::future::pending::<()>().await;
    });
    unreachable!("the fake core waits to be killed")
}

/// Present and not a zombie (PID 1 on some machines never reaps).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|text| text.rfind(')').and_then(|i| text[i + 2..].chars().next()))
        .is_some_and(|state| state != 'Z')
}
