//! Proxy cost (SPEC §6): `wrk` against a fast plugin directly and through
//! Core's `/_p/<id>/api/…`, printing requests/s and p50 latency of both, the
//! throughput ratio (goal ≥ 70 %) and the added p50 (goal ≤ 200 µs).
//!
//! The plugin is `examples/fastplugin.rs`, run from this very binary
//! (`--fast-plugin`), so its own cost is small next to Core's. Two kinds of run:
//!
//! - throughput: `wrk -t2 -c32` (both cores busy; wrk, Core and the plugin share them);
//! - latency: `wrk -t1 -c1` (one request at a time: p50 is the round trip, and
//!   the proxied p50 minus the direct p50 is what Core adds to each request).
//!
//! Each kind runs without credentials and once with a bearer token (Core then
//! resolves the caller and adds `X-PX-User`). `PX_BENCH_QUICK=1` runs each for 1 s.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../examples/fastplugin.rs"]
mod fastplugin;

use std::process::Command;
use std::time::Duration;

use common::{Core, Options};

const ID: &str = "com.example.fast";

fn quick() -> bool {
    std::env::var("PX_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// One `wrk` result.
#[derive(Debug, Clone, Copy)]
struct Wrk {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

/// `123.45us` / `1.20ms` / `2.00s` → microseconds.
fn micros(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit {
        "us" => 1.0,
        "ms" => 1_000.0,
        "s" => 1_000_000.0,
        _ => return None,
    };
    Some(number * factor)
}

fn wrk(url: &str, threads: u32, connections: u32, seconds: u32, token: Option<&str>) -> Wrk {
    let mut command = Command::new("wrk");
    command.args([
        format!("-t{threads}"),
        format!("-c{connections}"),
        format!("-d{seconds}s"),
        "--latency".to_owned(),
    ]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command
        .arg(url)
        .output()
        .expect("wrk is installed (apt-get install wrk; scripts/test does it)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "wrk saw failures against {url}:\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {prefix:?} in wrk output:\n{text}"))
            .to_owned()
    };
    Wrk {
        rps: field("Requests/sec:")
            .parse()
            .expect("requests/s is a number"),
        p50_us: micros(&field("50%")).expect("p50 has a unit"),
        p99_us: micros(&field("99%")).expect("p99 has a unit"),
    }
}

/// A plugin directory whose entry is this benchmark binary in plugin mode.
fn write_plugin(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let manifest = serde_json::json!({
        "manifest_version": 1,
        "id": ID,
        "name": "Fast",
        "description": "A std-only keep-alive server for benchmarks",
        "version": "1.0.0",
        "runtime": {
            "kind": "process",
            "entry": exe,
            "args": ["--fast-plugin"],
            "health": { "path": "/healthz", "timeout_ms": 5000 },
            "http_base_path": "/"
        }
    });
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

/// The port Core gave plugin `id`, read from its process's environment.
fn plugin_port(core: &Core, id: &str) -> u16 {
    let pids = common::plugin_pids(id, core.data.path());
    assert_eq!(pids.len(), 1, "one {id} process runs");
    common::environ(pids[0])
        .into_iter()
        .find_map(|(k, v)| (k == "PORT").then(|| v.parse().ok()).flatten())
        .expect("the plugin has PORT")
}

fn line(label: &str, direct: Wrk, proxied: Wrk) {
    println!(
        "  {label:<26} direct {:>8.0} req/s p50 {:>6.0} µs p99 {:>6.0} µs | proxied {:>8.0} req/s p50 {:>6.0} µs p99 {:>6.0} µs | ratio {:>5.1} % | added p50 {:>5.0} µs",
        direct.rps,
        direct.p50_us,
        direct.p99_us,
        proxied.rps,
        proxied.p50_us,
        proxied.p99_us,
        100.0 * proxied.rps / direct.rps,
        proxied.p50_us - direct.p50_us,
    );
}

async fn bench() {
    let seconds = if quick() { 1 } else { 10 };
    let core = Core::start_with(Options {
        probation_ms: 0,
        ..Options::default()
    })
    .await;
    let dir = core.work.path().join("fast");
    write_plugin(&dir);
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    let port = plugin_port(&core, ID);
    let direct_url = format!("http://127.0.0.1:{port}/hello");
    let proxied_url = format!("{}/_p/{ID}/api/hello", core.url);
    let token = core.token.clone();

    // wrk blocks: run it off the runtime so Core keeps all its workers
    let run = move |url: String, t: u32, c: u32, token: Option<String>| async move {
        tokio::task::spawn_blocking(move || wrk(&url, t, c, seconds, token.as_deref()))
            .await
            .unwrap()
    };
    // warm-up: pools, caches, the plugin's threads
    let warm = proxied_url.clone();
    tokio::task::spawn_blocking(move || wrk(&warm, 1, 8, 1, None))
        .await
        .unwrap();

    println!(
        "proxy vs direct (wrk, {seconds} s per run, fast plugin; goal: ratio >= 70 %, added p50 <= 200 µs)"
    );
    let cases: [(&str, u32, u32, Option<String>); 4] = [
        ("throughput -t2 -c32", 2, 32, None),
        ("latency -t1 -c1", 1, 1, None),
        ("throughput, bearer token", 2, 32, Some(token.clone())),
        ("latency, bearer token", 1, 1, Some(token)),
    ];
    for (label, threads, connections, token) in cases {
        let direct = run(direct_url.clone(), threads, connections, token.clone()).await;
        let proxied = run(proxied_url.clone(), threads, connections, token).await;
        line(label, direct, proxied);
    }

    core.stop().await;
}

fn main() {
    if std::env::args().any(|a| a == "--fast-plugin") {
        let port = std::env::var("PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .expect("PORT is set");
        fastplugin::serve(port).expect("the fast plugin serves");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
    // wait a moment for Core's background stops to finish before exiting
    std::thread::sleep(Duration::from_millis(100));
}
