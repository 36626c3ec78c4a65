//! A model test of a plugin's task (ARCHITECTURE.md, "One task per plugin")
//! with real processes: seeded pseudo-random sequences of install (good,
//! exiting, never listening, crashing in probation, failing its liveness
//! probes later), rollback to a random earlier revision, `SIGKILL` of the
//! current revision's processes, uninstall and Core restart (graceful, also
//! with an install in flight) — some steps two operations at once, which
//! the plugin's task must serialize — never leave two active revisions, a
//! route to a stopped process, or a stable revision that is not on disk;
//! and Core's own API never answers 5xx (besides the documented 502 report
//! of an install or rollback that was rolled back).
//!
//! Checked after every step, once things settled (polled with a deadline,
//! [`SETTLE`]):
//! 1. at most one live process of the plugin, and it runs the revision the
//!    detail calls current;
//! 2. `/_p/{id}/api/hello` answers 200 from that revision when the plugin is
//!    active or rolled back, 503 when nothing serves (`failed`,
//!    `crash_loop`; `restarting` and `starting` are waited out), 404 when it
//!    is not installed;
//! 3. the stable revision is on disk, the serving revision is the stable
//!    one, the state is one of the documented ones, and `failed` or
//!    `crash_loop` stay so while nothing happens ([`HOLD`]);
//! 4. a solo step did what it promises (a good install serves, a bad one
//!    leaves the stable revision, an uninstall leaves nothing, a restart
//!    brings the stable revision back);
//! 5. after a graceful stop no process of the plugin is left.
//!
//! All the while a monitor asks the proxy and the detail route: the detail
//! answers 200 or 404 with a documented state, the proxy 200, 404 or 503 —
//! 502 (routed to a dead process) only within [`DETECT`] of a `SIGKILL`
//! this test sent, during an install or rollback whose new process crashes,
//! or while a crashing version is current: the time Core needs to learn of
//! a death. Install and rollback answer a report (200, a 4xx refusal, or
//! 502 rolled back), uninstall 200 or 404.
//!
//! A failure prints the seed, the plan and every step's outcome so far.
//! Other seeds: `MODEL_SEED=n` (tests a, b, c then run n, n+1, n+2) and
//! `MODEL_STEPS=k`. Two fixed plans pin interleavings that found bugs.

#[path = "../common/mod.rs"]
mod common;
mod model;
mod observe;
mod plan;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Core, HELLO, Options};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use model::*;
use observe::*;
use plan::*;

const PROBATION_MS: u64 = 100;
const HEALTH_TIMEOUT_MS: u64 = 3_000;
/// `runtime.health.interval_ms` of every version (liveness probes).
const PROBE_INTERVAL_MS: u64 = 50;
/// When an `Unhealthy` version starts failing its probes.
const UNHEALTHY_AFTER_MS: u64 = 600;
/// When a `Crash` version exits: before its probation ends unless the
/// machine is very slow (then it becomes stable and keeps crashing).
const CRASH_AFTER_MS: u64 = 80;
/// `dev.liveness.max_restarts`: a fourth crash within the window is a `crash_loop`.
const MAX_RESTARTS: u32 = 3;
/// Steps of a random plan.
const STEPS: usize = 15;
/// Longest wait for a consistent state after a step.
const SETTLE: Duration = Duration::from_secs(15);
/// How long after a process death the route may still lead to it.
const DETECT: Duration = Duration::from_millis(1_000);
/// How long `failed` and `crash_loop` must last with nothing going on
/// (longer than the backoff of [`MAX_RESTARTS`] crashes).
const HOLD: Duration = Duration::from_millis(1_000);
/// `PluginState` as the API spells it.
const STATES: [&str; 7] = [
    "starting",
    "active",
    "rolled_back",
    "failed",
    "restarting",
    "stopped",
    "crash_loop",
];

/// The seeds of the three random runs. Chosen so that each plan holds every
/// kind of operation and together they overlap a kill with a rollback and
/// with an install, two installs, and an install with an uninstall
/// ([`the_seeds_cover_every_operation`]); any other seed is a valid run too.
const SEEDS: [u64; 3] = [25, 118, 235];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_seed_a() {
    let seed = seed(0);
    Model::run(Some(seed), plan(seed, steps())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_seed_b() {
    let seed = seed(1);
    Model::run(Some(seed), plan(seed, steps())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_seed_c() {
    let seed = seed(2);
    Model::run(Some(seed), plan(seed, steps())).await;
}

/// A crash of the serving process while the plugin's task is busy bringing
/// up a revision that never gets healthy: the route must not keep leading
/// to the dead process until the start gives up ([`HEALTH_TIMEOUT_MS`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_crash_while_a_revision_starts() {
    let plan = vec![
        Step::One(Op::Good),
        Step::Both(Op::NeverListen, Op::Kill { delay_ms: 300 }),
        Step::One(Op::Good),
    ];
    Model::run(None, plan).await;
}

/// A hot reload that fails while a crashed stable revision waits for its
/// restart (the third crash: 400 ms of backoff): the plugin is restarting,
/// not `failed` — which says nothing runs and nothing will until the next
/// install, rollback or Core start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_failed_install_while_a_restart_waits() {
    let plan = vec![
        Step::One(Op::Good),
        Step::One(Op::Kill { delay_ms: 0 }),
        Step::One(Op::Kill { delay_ms: 0 }),
        Step::Staggered(Op::Kill { delay_ms: 0 }, 50, Op::Exit),
        Step::One(Op::Good),
    ];
    Model::run(None, plan).await;
}

/// `SEEDS[index]`, or `MODEL_SEED + index`.
fn seed(index: usize) -> u64 {
    match std::env::var("MODEL_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(base) => base + index as u64,
        None => SEEDS[index],
    }
}

#[test]
fn the_seeds_cover_every_operation() {
    let name = |op: &Op| {
        let text = format!("{op:?}");
        text.split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap()
            .to_owned()
    };
    let all = [
        "Good",
        "Exit",
        "NeverListen",
        "Crash",
        "Unhealthy",
        "Rollback",
        "Kill",
        "Uninstall",
        "Restart",
        "RestartDuringInstall",
    ];
    let mut pairs = HashSet::new();
    for seed in SEEDS {
        let mut kinds = HashSet::new();
        for step in plan(seed, STEPS) {
            match step {
                Step::One(op) => {
                    kinds.insert(name(&op));
                }
                Step::Both(a, b) | Step::Staggered(a, _, b) => {
                    let mut pair = [name(&a), name(&b)];
                    pair.sort();
                    kinds.extend(pair.clone());
                    pairs.insert(pair.join("+"));
                }
            }
        }
        let missing: Vec<_> = all.iter().filter(|k| !kinds.contains(**k)).collect();
        assert!(missing.is_empty(), "seed {seed} lacks {missing:?}");
    }
    for pair in ["Kill+Rollback", "Good+Kill", "Good+Good", "Good+Uninstall"] {
        assert!(pairs.contains(pair), "no step overlaps {pair}: {pairs:?}");
    }
}

fn options() -> Options {
    Options {
        probation_ms: PROBATION_MS,
        health_timeout_ms: HEALTH_TIMEOUT_MS,
        ..Default::default()
    }
}

fn tweak(config: &mut px_core::Config) {
    config.policy.dev.liveness.max_restarts = MAX_RESTARTS;
}
