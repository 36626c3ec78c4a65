//! Plugin log throughput to one WebSocket client (SPEC §6: ≥ 50,000 lines/s,
//! plugin never blocked).
//!
//! A real Core on 127.0.0.1:0 runs the flood plugin (tests/flood), one client
//! subscribes to `plugin.dev.logs`, and the plugin writes N lines as fast as
//! it can. Printed: lines delivered to the client per second (first to last
//! line), lines missed, and the plugin's own write rate inside Core next to
//! its rate into a pipe that a bare thread drains — equal rates mean Core never blocked it.
//! `PX_BENCH_QUICK=1` makes it a tiny smoke run.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/flood/mod.rs"]
mod flood;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use px_api::{ServerControl, ServerMessage};

fn main() {
    let quick = std::env::var_os("PX_BENCH_QUICK").is_some_and(|v| v == "1");
    let lines: u64 = if quick { 20_000 } else { 1_000_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let baseline = plugin_rate_alone(lines);
    let result = runtime.block_on(run(lines));
    println!("ws_logs: {lines} lines written by the plugin");
    println!(
        "  delivered  {} lines in {:.3} s = {:.0} lines/s to one WebSocket client",
        result.delivered,
        result.span.as_secs_f64(),
        result.delivered as f64 / result.span.as_secs_f64().max(1e-9)
    );
    println!(
        "  missed     {} (announced by missed notices)",
        result.missed
    );
    println!(
        "  not seen   {} (dropped before the bus: Core's per-plugin log queue)",
        lines.saturating_sub(result.delivered + result.missed)
    );
    println!("  plugin     {}", result.plugin_line);
    println!("  alone      {baseline} (same script, a pipe drained by a bare reader thread)");
    println!("  goal       >= 50000 lines/s, plugin never blocked");
}

struct Outcome {
    delivered: u64,
    missed: u64,
    span: Duration,
    plugin_line: String,
}

async fn run(lines: u64) -> Outcome {
    let core = common::Core::start_with(common::Options {
        probation_ms: 0,
        ..common::Options::default()
    })
    .await;
    let dir = flood::write_flood_plugin(&core.work.path().join("flood"), common::HELLO);
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    let mut socket = flood::connect(&core.url, Some(&core.token)).await.unwrap();
    flood::subscribe(&mut socket, common::HELLO, None).await;
    flood::next_control(&mut socket, Duration::from_secs(10)).await;

    let (status, _) = core
        .proxy(common::HELLO, &format!("/flood?n={lines}"))
        .await;
    assert_eq!(status, 200);
    let mut delivered = 0u64;
    let mut missed = 0u64;
    let mut first = None;
    let mut last = Instant::now();
    let mut plugin_line = String::new();
    // until the plugin's summary line and then a quiet moment (stdout and stderr race)
    loop {
        let wait = if plugin_line.is_empty() { 30 } else { 1 };
        let frame = tokio::time::timeout(
            Duration::from_secs(wait),
            flood::next(&mut socket, Duration::from_secs(120)),
        )
        .await;
        let Ok(frame) = frame else { break };
        match frame {
            ServerMessage::Log(log) if log.message.starts_with("flood line") => {
                first.get_or_insert_with(Instant::now);
                last = Instant::now();
                delivered += 1;
            }
            ServerMessage::Log(log) if log.message.starts_with("flood done") => {
                plugin_line = log.message;
            }
            ServerMessage::Control(ServerControl::Missed { count }) => missed += count,
            _ => {}
        }
        if delivered + missed >= lines && !plugin_line.is_empty() {
            break;
        }
    }
    let span = last.duration_since(first.unwrap_or(last));
    core.stop().await;
    Outcome {
        delivered,
        missed,
        span,
        plugin_line,
    }
}

/// The flood script's own rate into a pipe drained by a bare reader thread.
fn plugin_rate_alone(lines: u64) -> String {
    let script = format!(
        "{}\nflood({lines})",
        flood::FLOOD_PY
            .split("class Handler")
            .next()
            .unwrap()
            .replace("PORT = int(os.environ[\"PORT\"])", "")
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdout = child.stdout.take().unwrap();
    let drain = std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let output = child.wait_with_output().expect("python3 runs");
    let _ = drain.join();
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}
