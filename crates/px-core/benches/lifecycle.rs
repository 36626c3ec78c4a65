//! Lifecycle benchmarks (SPEC §6), printed as plain numbers:
//!
//! 1. Core's share of an install: report `duration_ms` (probation 0) of a
//!    ~1 MB `.pxp` minus the same plugin's bare spawn-to-healthy time,
//!    measured in the same run through `px-runtime` directly;
//! 2. many reloads in a row: open fds, plugin processes and RSS before/after;
//! 3. Core restart with many plugins installed: time until all serve;
//! 4. Core's share of an install of the PowerX-shaped `examples/powerx/base-like`
//!    (migration, backend, Node admin) against the bare run of the same (`powerx`).
//!
//! `PX_BENCH_QUICK=1` runs a few iterations of each, as a smoke test;
//! `PX_BENCH_ONLY=share|powerx|reloads|under_load|restart` runs one section; `PX_BENCH_RELOADS=N`
//! sets the number of reloads.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../examples/fastplugin.rs"]
mod fastplugin;
#[path = "lifecycle/powerx.rs"]
mod powerx;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Core, Options};

fn quick() -> bool {
    std::env::var("PX_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// `PX_BENCH_ONLY=share|powerx|reloads|under_load|restart` runs one section (all by default).
fn only(section: &str) -> bool {
    std::env::var("PX_BENCH_ONLY").map_or(true, |v| v == section)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// CPU time of this process (Core runs in it), user + system, in ms.
fn cpu_ms() -> f64 {
    cpu_fields_ms(14)
}

fn children_cpu_ms() -> f64 {
    cpu_fields_ms(16)
}

/// The load average over the last minute, from `/proc/loadavg`.
fn load() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().unwrap_or("?").to_owned()
}

/// Fields `first` and `first + 1` of `/proc/self/stat` (clock ticks) in ms.
fn cpu_fields_ms(first: usize) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // after the command: state is field 3, utime 14 and stime 15 (clock ticks of 10 ms)
    let ticks = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(first) + ticks(first + 1)) * 10.0
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A 1 MB incompressible file so the bundle weighs ~1 MB.
fn add_payload(dir: &std::path::Path) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..1_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(dir.join("payload.bin"), bytes).unwrap();
}

/// A plugin for the "Core's share" runs: what to start and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `examples/plugins/hello-python` under the real interpreter (no pyenv shim).
    Python,
    /// `examples/fastplugin.rs`, run from this binary: starts in ~1 ms, so
    /// the spawn-to-healthy noise does not hide Core's share.
    Fast,
}

/// The real Python interpreter: `python3` on `PATH` may be a pyenv shell
/// shim that adds tens of milliseconds (and their noise) to every start.
fn real_python() -> String {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON.get_or_init(find_python).clone()
}

fn find_python() -> String {
    std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/usr/bin/python3".to_owned())
}

/// Manifest edit: start `entry args` instead of `python3 -u server.py`.
fn entry(kind: Kind) -> impl FnOnce(&mut serde_json::Value) {
    move |m: &mut serde_json::Value| match kind {
        Kind::Python => m["runtime"]["entry"] = real_python().into(),
        Kind::Fast => {
            let exe = std::env::current_exe().unwrap();
            m["runtime"]["entry"] = exe.display().to_string().into();
            m["runtime"]["args"] = serde_json::json!(["--fast-plugin"]);
        }
    }
}

/// Spawn-to-healthy of the bare plugin in `dir` (same program, args, cwd and
/// health poller as Core uses), without Core's lifecycle.
async fn bare_start(spawner: &px_runtime::Spawner, dir: &std::path::Path) -> f64 {
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let runtime = &manifest["runtime"];
    let port = px_runtime::pick_port().unwrap();
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
    env.insert("HOME".to_owned(), std::env::var("HOME").unwrap_or_default());
    env.insert("PORT".to_owned(), port.to_string());
    let started = Instant::now();
    let process = spawner
        .spawn(px_runtime::SpawnSpec {
            program: runtime["entry"].as_str().unwrap().to_owned(),
            args: serde_json::from_value(runtime["args"].clone()).unwrap(),
            cwd: dir.to_owned(),
            env,
            log_sink: Arc::new(|_, _| {}),
        })
        .await
        .unwrap();
    let outcome = px_runtime::wait_healthy(
        port,
        "/healthz",
        Duration::from_secs(10),
        px_runtime::DEFAULT_PROBE_TIMEOUT,
        &process,
    )
    .await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(
        matches!(outcome, px_runtime::HealthOutcome::Healthy(_)),
        "{outcome:?}"
    );
    process.stop(Duration::from_secs(2)).await;
    ms
}

fn p50_p95(values: &mut [f64]) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "p50 {:6.1} ms  p95 {:6.1} ms",
        percentile(values, 0.5),
        percentile(values, 0.95)
    )
}

/// Installs of a ~1 MB `.pxp`, each paired with a bare start of the same
/// plugin right before or after it (alternating), in one Core.
async fn core_share(kind: Kind) {
    let runs = if quick() { 5 } else { 40 };
    let core = Core::start_with(Options {
        probation_ms: 0,
        health_timeout_ms: 10_000,
        max_bundle_bytes: 64 << 20,
    })
    .await;
    let spawner = px_runtime::Spawner::new();
    let (mut shares, mut bares, mut totals, mut own) = (vec![], vec![], vec![], vec![]);
    let mut bundle_len = 0;
    let mut phases: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    // one unmeasured round warms up caches (page cache, interpreter, pools)
    for n in 0..=runs {
        let id = "com.example.bench";
        let dir = core.plugin("bench", id, &format!("1.0.{n}"), entry(kind));
        add_payload(&dir);
        let bundle = common::pack(&dir);
        bundle_len = bundle.len();
        let bare_first = n % 2 == 0;
        let mut bare = 0.0;
        if bare_first {
            bare = bare_start(&spawner, &dir).await;
        }
        let (status, report) = core.install_pxp(bundle).await;
        assert_eq!(status, 200, "{report:?}");
        if !bare_first {
            bare = bare_start(&spawner, &dir).await;
        }
        if n == 0 {
            continue;
        }
        let total = report.duration_ms as f64;
        let mut phase_sum = 0.0;
        for phase in &report.phases {
            let name = phase.name.as_str();
            phases.entry(name).or_default().push(phase.ms as f64);
            if !matches!(name, "health" | "probation") {
                phase_sum += phase.ms as f64;
            }
        }
        bares.push(bare);
        totals.push(total);
        shares.push(total - bare);
        own.push(phase_sum);
    }
    println!(
        "core share of an install, {kind:?} plugin ({runs} installs of a {bundle_len}-byte .pxp, probation 0, each paired with a bare start; load average {}):",
        load()
    );
    println!("  report duration_ms       {}", p50_p95(&mut totals));
    println!("  bare spawn-to-healthy    {}", p50_p95(&mut bares));
    println!(
        "  duration - paired bare   {}   (goal p50 <= 25, p95 <= 60)",
        p50_p95(&mut shares)
    );
    println!(
        "  Core's own phases        {}   (receive+validate+resolve+stage+start+swap)",
        p50_p95(&mut own)
    );
    let order = [
        "receive",
        "validate",
        "resolve",
        "stage",
        "start",
        "health",
        "swap",
        "probation",
    ];
    let line: Vec<String> = order
        .iter()
        .filter_map(|name| {
            let mut v = phases.get(name)?.clone();
            v.sort_by(f64::total_cmp);
            Some(format!(
                "{name} {:.0}/{:.0}",
                percentile(&v, 0.5),
                percentile(&v, 0.95)
            ))
        })
        .collect();
    println!("  phase p50/p95 (ms): {}", line.join(", "));
    core.stop().await;
}

async fn many_reloads() {
    let runs = if quick() { 30 } else { 1_000 };
    // PX_BENCH_RELOADS=N: a longer run, to tell a leak from buffers filling up
    let runs = std::env::var("PX_BENCH_RELOADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(runs);
    let core = Core::start_with(Options {
        probation_ms: 0,
        health_timeout_ms: 10_000,
        ..Options::default()
    })
    .await;
    let dir = core.plugin("hello", common::HELLO, "1.0.0", entry(Kind::Python));
    assert_eq!(core.install_dir(&dir).await.0, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (fds0, procs0, rss0) = (
        fds(),
        common::plugin_pids(common::HELLO, core.data.path()).len(),
        rss_kb(),
    );
    let started = Instant::now();
    let mut rss_half = 0;
    for n in 0..runs {
        if n == runs / 2 {
            rss_half = rss_kb();
        }
        let dir = core.plugin(
            "hello",
            common::HELLO,
            &format!("1.1.{n}"),
            entry(Kind::Python),
        );
        let (status, report) = core.install_dir(&dir).await;
        assert_eq!(status, 200, "{report:?}");
    }
    let elapsed = started.elapsed();
    // old revisions are stopped in the background: let them go
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let (fds1, procs1, rss1) = (
        fds(),
        common::plugin_pids(common::HELLO, core.data.path()).len(),
        rss_kb(),
    );
    println!(
        "{runs} reloads in a row ({:.1} s, {:.1} ms each):",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / runs as f64
    );
    println!("  open fds          {fds0} -> {fds1}");
    println!("  plugin processes  {procs0} -> {procs1}");
    println!(
        "  RSS               {} KiB -> {} KiB ({:+.1} MB; goal <= 10 MB); {:+.1} MB of it in the second half",
        rss0,
        rss1,
        (rss1 as f64 - rss0 as f64) / 1024.0,
        (rss1 as f64 - rss_half as f64) / 1024.0
    );
    core.stop().await;
}

async fn restart_with_many_plugins() {
    let count = if quick() { 5 } else { 50 };
    let core = Core::start_with(Options {
        probation_ms: 0,
        health_timeout_ms: 20_000,
        ..Options::default()
    })
    .await;
    let dirs: Vec<_> = (0..count)
        .map(|n| {
            core.plugin(
                &format!("p{n}"),
                &format!("com.example.p{n}"),
                "1.0.0",
                entry(Kind::Python),
            )
        })
        .collect();
    for dir in &dirs {
        assert_eq!(core.install_dir(dir).await.0, 200);
    }
    let (data, work) = core.stop().await;
    let load_before = load();
    let started = Instant::now();
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (cpu0, children0) = (cpu_ms(), children_cpu_ms());
    let core = Core::start_in(
        data,
        work,
        Options {
            probation_ms: 0,
            health_timeout_ms: 20_000,
            ..Options::default()
        },
    )
    .await;
    let mut core_up = None;
    while core_up.is_none() {
        if core.get("/healthz").await.0 == 200 {
            core_up = Some(started.elapsed());
        }
    }
    // Noticing is cheap (one GET /api/plugins every 100 ms, not 50 pollers
    // taking the CPU the plugins need to start); the time each plugin became
    // active is Core's own: the `ts` of its `plugin.started` event.
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not all active"
        );
        let (_, list) = core.get("/api/plugins").await;
        let plugins = list["plugins"].as_array().cloned().unwrap_or_default();
        if plugins.iter().filter(|p| p["state"] == "active").count() == count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu = cpu_ms() - cpu0;
    let mut each = Vec::new();
    for n in 0..count {
        let (_, logs) = core
            .get(&format!("/api/plugins/com.example.p{n}/logs?tail=100"))
            .await;
        let ts = logs["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["data"]["event"] == "plugin.started")
            .filter_map(|m| m["ts"].as_i64())
            .max()
            .expect("a plugin.started event");
        each.push((ts - started_ms) as f64);
    }
    let elapsed = Duration::from_secs_f64(each.iter().copied().fold(0.0, f64::max) / 1000.0);
    each.sort_by(f64::total_cmp);
    for n in 0..count {
        let (status, body) = core.proxy(&format!("com.example.p{n}"), "/hello").await;
        assert_eq!(status, 200, "p{n} is active but does not serve: {body}");
    }
    println!(
        "Core restart with {count} plugins: all active after {:.0} ms (goal <= 3000 ms)",
        elapsed.as_secs_f64() * 1000.0
    );
    println!(
        "  Core answering /healthz {:.0} ms; first plugin active {:.0} ms, median {:.0} ms, last {:.0} ms",
        core_up.unwrap_or_default().as_secs_f64() * 1000.0,
        each[0],
        percentile(&each, 0.5),
        each[each.len() - 1]
    );
    core.stop().await;
    // the plugins were waited for when they stopped: their CPU is counted now
    let plugins_cpu = children_cpu_ms() - children0;
    println!(
        "  CPU: Core (and this bench's polling) {cpu:.0} ms meanwhile; the {count} plugins {plugins_cpu:.0} ms in all; load average before {load_before}"
    );
}

/// SPEC §6: requests failed through the proxy during 100 hot reloads at
/// steady load (goal 0). Client loops hit the fast plugin through the proxy
/// without pause while revisions follow one another.
async fn reloads_under_load() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let runs = if quick() { 10 } else { 100 };
    let core = Core::start_with(Options {
        probation_ms: 200,
        health_timeout_ms: 10_000,
        ..Options::default()
    })
    .await;
    let dir = core.plugin("fast", common::HELLO, "1.0.0", entry(Kind::Fast));
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let url = format!("{}/_p/{}/api/hello", core.url, common::HELLO);
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
            let client = reqwest::Client::new();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).send().await {
                        Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let started = Instant::now();
    for n in 0..runs {
        let dir = core.plugin(
            "fast",
            common::HELLO,
            &format!("1.2.{n}"),
            entry(Kind::Fast),
        );
        let (status, report) = core.install_dir(&dir).await;
        assert_eq!(status, 200, "{report:?}");
    }
    stop.store(true, Ordering::Relaxed);
    for task in loops {
        task.await.unwrap();
    }
    println!(
        "{runs} hot reloads at steady load ({:.1} s, 4 client loops): {} requests ok, {} failed (goal 0)",
        started.elapsed().as_secs_f64(),
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    core.stop().await;
}

fn main() {
    if std::env::args().any(|a| a == "--fast-plugin") {
        let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok());
        fastplugin::serve(port.expect("PORT is set")).expect("the fast plugin serves");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if only("share") {
            core_share(Kind::Fast).await;
            core_share(Kind::Python).await;
        }
        if only("powerx") {
            powerx::share().await;
        }
        if only("reloads") {
            many_reloads().await;
        }
        if only("under_load") {
            reloads_under_load().await;
        }
        if only("restart") {
            restart_with_many_plugins().await;
        }
    });
}
