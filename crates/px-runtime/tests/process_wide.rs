//! Tests that look at the whole test process, so they run one after another
//! in a binary of their own:
//!
//! - a plugin dies with Core and sees nothing of Core's environment: this
//!   binary runs itself a second time as a "fake Core" (switched by an
//!   environment variable) that spawns a plugin and prints its pid; the test
//!   then `SIGKILL`s the fake Core and expects the plugin to die with it;
//! - many starts and stops leave no file descriptor, child or zombie behind.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use px_runtime::{LogSink, SpawnSpec, Spawner};

const FAKE_CORE: &str = "PX_RUNTIME_TEST_FAKE_CORE";
const SECRET: &str = "PX_SECRET_TEST";

/// The tests of this binary, run by the small libtest-compatible `main` below
/// (they need the whole process to themselves, so no harness threads).
const TESTS: &[(&str, fn())] = &[
    (
        "plugin_dies_with_core_and_sees_none_of_its_environment",
        plugin_dies_with_core_and_sees_none_of_its_environment,
    ),
    (
        "starts_and_stops_leave_nothing_behind",
        starts_and_stops_leave_nothing_behind,
    ),
    (
        "an_escaper_ends_when_core_exits_without_stopping_its_plugin",
        an_escaper_ends_when_core_exits_without_stopping_its_plugin,
    ),
];

/// Options of libtest's command line that take a value.
const VALUED_OPTIONS: &[&str] = &[
    "--format",
    "--test-threads",
    "--color",
    "--logfile",
    "--skip",
];

/// Speaks enough of libtest's command line for `cargo test` and `cargo
/// nextest` (`--list --format terse`, `--exact NAME`, name filters).
fn main() {
    match std::env::var(FAKE_CORE).as_deref() {
        Ok("exit") => fake_core_that_exits(),
        Ok(_) => fake_core(),
        Err(_) => {}
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            for (name, _) in TESTS {
                println!("{name}: test");
            }
        }
        return;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let mut filters = Vec::new();
    let mut skip_value = false;
    for arg in &args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if arg.starts_with("--") {
            skip_value = VALUED_OPTIONS.contains(&arg.as_str());
        } else {
            filters.push(arg.as_str());
        }
    }
    let selected = |name: &str| {
        filters.is_empty()
            || filters
                .iter()
                .any(|f| if exact { *f == name } else { name.contains(f) })
    };
    let mut passed = 0;
    for (name, test) in TESTS.iter().filter(|(name, _)| selected(name)) {
        println!("test {name} ...");
        test();
        println!("test {name} ... ok");
        passed += 1;
    }
    let filtered = TESTS.len() - passed;
    println!(
        "\ntest result: ok. {passed} passed; 0 failed; 0 ignored; 0 measured; {filtered} filtered out"
    );
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

/// A Core whose `main` ends while a plugin runs (e.g. a revision left warm)
/// runs no stop: the exit handler ends the plugin's escaped child, which
/// `PR_SET_PDEATHSIG` would not.
fn an_escaper_ends_when_core_exits_without_stopping_its_plugin() {
    for no_cgroup in ["0", "1"] {
        let core = Command::new(std::env::current_exe().unwrap())
            .env(FAKE_CORE, "exit")
            .env("PX_RUNTIME_NO_CGROUP", no_cgroup)
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert!(core.status.success(), "{core:?}");
        let stdout = String::from_utf8(core.stdout).unwrap();
        let escaper: u32 = stdout
            .lines()
            .find_map(|l| l.strip_prefix("escaper="))
            .unwrap()
            .parse()
            .unwrap();
        let start = Instant::now();
        while alive(escaper) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            !alive(escaper),
            "escaper {escaper} outlived Core (PX_RUNTIME_NO_CGROUP={no_cgroup})"
        );
    }
}

fn starts_and_stops_leave_nothing_behind() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        px_runtime::become_subreaper().unwrap();
        let _reaper = px_runtime::spawn_orphan_reaper();
        let spawner = Spawner::new();
        let spec = |script: &str| SpawnSpec {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
            log_sink: Arc::new(|_, _| {}),
        };
        // warm up: runtime threads, signal driver, spawner thread
        spawner.spawn(spec("true")).await.unwrap().exited().await;
        // the last tasks of a process (closing its pipes and pidfd) finish just after its exit
        tokio::time::sleep(Duration::from_millis(300)).await;
        let fds_before = open_fds();

        let start = Instant::now();
        for i in 0..300 {
            let script = match i % 3 {
                0 => "echo hi; echo oops >&2",
                1 => "sleep 300 & echo $!; exec sleep 300",
                _ => "setsid sleep 0.05 & sleep 0.01; exit 1",
            };
            let process = spawner.spawn(spec(script)).await.unwrap();
            if i % 3 == 1 {
                process.stop(Duration::from_secs(1)).await;
            } else {
                process.exited().await;
            }
        }
        let cycles = start.elapsed();

        let settled = Instant::now();
        while (open_fds() != fds_before || children() != 0)
            && settled.elapsed() < Duration::from_secs(5)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(open_fds(), fds_before, "file descriptors leaked");
        assert_eq!(children(), 0, "children or zombies left");
        print!("(300 start/stop cycles in {cycles:?}) ");
    });
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Processes (zombies included) whose parent is this process.
fn children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter(|text| {
            text.rfind(')')
                .and_then(|i| text[i + 2..].split(' ').nth(1))
                == Some(me.as_str())
        })
        .count()
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

/// Spawns a plugin whose child escapes with `setsid`, prints `escaper=PID`
/// once it runs, and returns from its runtime and exits without stopping it.
fn fake_core_that_exits() -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        px_runtime::become_subreaper().unwrap();
        let (first_line, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sink: LogSink = Arc::new(move |_, line| {
            let _ = first_line.send(line);
        });
        let spec = SpawnSpec {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                "setsid sleep 300 & echo $!; exec sleep 300".into(),
            ],
            cwd: std::env::temp_dir(),
            env: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
            log_sink: sink,
        };
        let process = Spawner::new().spawn(spec).await.unwrap();
        let escaper: u32 = rx.recv().await.unwrap().parse().unwrap();
        while !std::fs::read_to_string(format!("/proc/{escaper}/stat"))
            .is_ok_and(|s| s.contains(") S ") && s.split(' ').nth(5) == Some(&escaper.to_string()))
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!("escaper={escaper}");
        drop(process);
    });
    drop(runtime);
    std::process::exit(0)
}

/// Present and not a zombie (PID 1 on some machines never reaps).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|text| text.rfind(')').and_then(|i| text[i + 2..].chars().next()))
        .is_some_and(|state| state != 'Z')
}
