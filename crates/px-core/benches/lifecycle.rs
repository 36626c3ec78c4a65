//! Lifecycle benchmarks (SPEC §6), printed as plain numbers:
//!
//! 1. Core's share of an install: report `duration_ms` (probation 0) of a
//!    ~1 MB `.pxp` minus the same plugin's bare spawn-to-healthy time,
//!    measured in the same run through `px-runtime` directly;
//! 2. many reloads in a row: open fds, plugin processes and RSS before/after;
//! 3. Core restart with many plugins installed: time until all serve.
//!
//! `PX_BENCH_QUICK=1` runs a few iterations of each, as a smoke test.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Core, Options};

fn quick() -> bool {
    std::env::var("PX_BENCH_QUICK").is_ok_and(|v| v == "1")
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

/// Spawn-to-healthy of the bare plugin, without Core's lifecycle.
async fn bare_start(spawner: &px_runtime::Spawner, dir: &std::path::Path) -> f64 {
    let port = px_runtime::pick_port().unwrap();
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
    env.insert("HOME".to_owned(), std::env::var("HOME").unwrap_or_default());
    env.insert("PORT".to_owned(), port.to_string());
    let started = Instant::now();
    let process = spawner
        .spawn(px_runtime::SpawnSpec {
            program: "python3".into(),
            args: vec!["-u".into(), "server.py".into()],
            cwd: dir.to_owned(),
            env,
            log_sink: Arc::new(|_, _| {}),
        })
        .await
        .unwrap();
    let outcome =
        px_runtime::wait_healthy(port, "/healthz", Duration::from_secs(10), &process).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(
        matches!(outcome, px_runtime::HealthOutcome::Healthy(_)),
        "{outcome:?}"
    );
    process.stop(Duration::from_secs(2)).await;
    ms
}

async fn core_share() {
    let runs = if quick() { 5 } else { 30 };
    let core = Core::start_with(Options {
        probation_ms: 0,
        health_timeout_ms: 10_000,
        max_bundle_bytes: 64 << 20,
    })
    .await;
    let spawner = px_runtime::Spawner::new();
    let mut shares = Vec::new();
    let mut bares = Vec::new();
    let mut totals = Vec::new();
    let mut bundle_len = 0;
    let mut phases: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for n in 0..runs {
        let dir = core.plugin("bench", "com.example.bench", &format!("1.0.{n}"), |_| {});
        add_payload(&dir);
        let bundle = common::pack(&dir);
        bundle_len = bundle.len();
        let bare = bare_start(&spawner, &dir).await;
        let (status, report) = core.install_pxp(bundle).await;
        assert_eq!(status, 200, "{report:?}");
        let total = report.duration_ms as f64;
        for phase in &report.phases {
            phases
                .entry(phase.name.as_str())
                .or_default()
                .push(phase.ms as f64);
        }
        bares.push(bare);
        totals.push(total);
        shares.push(total - bare);
    }
    for v in [&mut shares, &mut bares, &mut totals] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "core share of an install ({runs} installs of a {bundle_len}-byte .pxp, probation 0):"
    );
    println!(
        "  report duration_ms    p50 {:7.1} ms  p95 {:7.1} ms",
        percentile(&totals, 0.5),
        percentile(&totals, 0.95)
    );
    println!(
        "  bare spawn-to-healthy p50 {:7.1} ms  p95 {:7.1} ms",
        percentile(&bares, 0.5),
        percentile(&bares, 0.95)
    );
    println!(
        "  core share            p50 {:7.1} ms  p95 {:7.1} ms   (goal p50 <= 25, p95 <= 60)",
        percentile(&shares, 0.5),
        percentile(&shares, 0.95)
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
            Some(format!("{name} {:.0}", percentile(&v, 0.5)))
        })
        .collect();
    println!("  phase p50 (ms): {}", line.join(", "));
    core.stop().await;
}

async fn many_reloads() {
    let runs = if quick() { 30 } else { 1_000 };
    let core = Core::start_with(Options {
        probation_ms: 0,
        health_timeout_ms: 10_000,
        ..Options::default()
    })
    .await;
    let dir = core.plugin("hello", common::HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (fds0, procs0, rss0) = (
        fds(),
        common::plugin_pids(common::HELLO, core.data.path()).len(),
        rss_kb(),
    );
    let started = Instant::now();
    for n in 0..runs {
        let dir = core.plugin("hello", common::HELLO, &format!("1.1.{n}"), |_| {});
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
        "  RSS               {} KiB -> {} KiB ({:+.1} MB; goal <= 10 MB)",
        rss0,
        rss1,
        (rss1 as f64 - rss0 as f64) / 1024.0
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
                |_| {},
            )
        })
        .collect();
    for dir in &dirs {
        assert_eq!(core.install_dir(dir).await.0, 200);
    }
    let (data, work) = core.stop().await;
    let started = Instant::now();
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
    let waits = (0..count).map(|n| {
        let core = &core;
        async move {
            core.wait_serving(&format!("com.example.p{n}"), Duration::from_secs(30))
                .await
        }
    });
    futures_util::future::join_all(waits).await;
    let elapsed = started.elapsed();
    println!(
        "Core restart with {count} plugins: all serving after {:.0} ms (goal <= 3000 ms)",
        elapsed.as_secs_f64() * 1000.0
    );
    core.stop().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        core_share().await;
        many_reloads().await;
        restart_with_many_plugins().await;
    });
}
