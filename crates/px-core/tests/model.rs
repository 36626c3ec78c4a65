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

mod common;

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

fn steps() -> usize {
    std::env::var("MODEL_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(STEPS)
}

/// xorshift64: enough randomness for a plan, and the same plan for a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One operation on the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Install a fresh healthy version.
    Good,
    /// A version whose process exits at once.
    Exit,
    /// A version that never listens: health times out.
    NeverListen,
    /// A version that exits [`CRASH_AFTER_MS`] after it started: at the
    /// latest in probation.
    Crash,
    /// A healthy version that fails its liveness probes after [`UNHEALTHY_AFTER_MS`].
    Unhealthy,
    /// Roll back to revision `1 + pick % newest revision seen`.
    Rollback {
        pick: u64,
    },
    /// After `delay_ms`, `SIGKILL` every process of the revision the detail
    /// calls current (an instance of it that is starting included).
    Kill {
        delay_ms: u64,
    },
    Uninstall,
    /// Stop Core gracefully and start it over the same data directory.
    Restart,
    /// The same while a good install is in flight (`delay_ms` after it was sent).
    RestartDuringInstall {
        delay_ms: u64,
    },
}

#[derive(Debug, Clone, Copy)]
enum Step {
    One(Op),
    /// Two operations at once; the plugin's task serializes them.
    Both(Op, Op),
    /// The second starts `.1` ms after the first, while it runs (fixed plans only).
    Staggered(Op, u64, Op),
}

fn random_op(rng: &mut Rng, solo: bool) -> Op {
    loop {
        let op = match rng.below(20) {
            0..=4 => Op::Good,
            5 => Op::Exit,
            6 => Op::NeverListen,
            7 => Op::Crash,
            8 => Op::Unhealthy,
            9..=11 => Op::Rollback { pick: rng.next() },
            12..=14 => Op::Kill {
                delay_ms: rng.below(400),
            },
            15 => Op::Uninstall,
            16 | 17 => Op::Restart,
            _ => Op::RestartDuringInstall {
                delay_ms: rng.below(300),
            },
        };
        if solo || !matches!(op, Op::Restart | Op::RestartDuringInstall { .. }) {
            return op;
        }
    }
}

/// The steps of a seed; the first installs something to act on.
fn plan(seed: u64, steps: usize) -> Vec<Step> {
    let mut rng = Rng::new(seed);
    let mut plan = vec![Step::One(Op::Good)];
    while plan.len() < steps {
        plan.push(if rng.below(3) == 0 {
            Step::Both(random_op(&mut rng, false), random_op(&mut rng, false))
        } else {
            Step::One(random_op(&mut rng, true))
        });
    }
    plan
}

/// What a solo step promises about the state it leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Post {
    /// Nothing beyond the invariants.
    Any,
    /// `revision` is current and stable.
    Serves(u64),
    /// The stable revision is one of these (`None`: none, or not installed).
    Stable(Vec<Option<u64>>),
    /// Not installed.
    Gone,
    /// After a Core restart: the stable revision is one of these, and it
    /// is current again (unless it crashed too often: `crash_loop`).
    Recovers(Vec<Option<u64>>),
}

/// What a settled Core shows of the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    installed: bool,
    state: String,
    revision: Option<u64>,
    stable: Option<u64>,
    restarts: u64,
}

impl Snapshot {
    fn of(status: u16, detail: &Value) -> Snapshot {
        Snapshot {
            installed: status == 200,
            state: detail["state"].as_str().unwrap_or_default().to_owned(),
            revision: detail["revision"].as_u64(),
            stable: detail["stable_revision"].as_u64(),
            restarts: detail["restarts"].as_u64().unwrap_or_default(),
        }
    }
}

/// One answer the monitor saw.
#[derive(Debug)]
struct Sample {
    /// When the request was sent.
    sent: Instant,
    what: &'static str,
    status: u16,
    body: String,
}

/// Asks the proxy and the detail route all the time while steps run.
struct Monitor {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Monitor {
    fn start(core: &Core) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (client, url, token) = (core.client.clone(), core.url.clone(), core.token.clone());
        let task = tokio::spawn({
            let (stop, samples) = (stop.clone(), samples.clone());
            async move {
                let proxy = format!("{url}/_p/{HELLO}/api/hello");
                let detail = format!("{url}/api/plugins/{HELLO}");
                while !stop.load(Ordering::SeqCst) {
                    for (what, request) in [
                        ("proxy", client.get(&proxy)),
                        ("detail", client.get(&detail).bearer_auth(&token)),
                    ] {
                        let sent = Instant::now();
                        let request = request.timeout(Duration::from_secs(20));
                        let (status, body) = match request.send().await {
                            Ok(response) => {
                                let status = response.status().as_u16();
                                (status, response.text().await.unwrap_or_default())
                            }
                            Err(error) => (0, format!("no answer: {error}")),
                        };
                        samples.lock().unwrap().push(Sample {
                            sent,
                            what,
                            status,
                            body,
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
        Monitor {
            stop,
            samples,
            task,
        }
    }

    fn take(&self) -> Vec<Sample> {
        std::mem::take(&mut *self.samples.lock().unwrap())
    }

    async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        std::mem::take(&mut *self.samples.lock().unwrap())
    }
}

/// What operations record while they run (they run two at a time).
#[derive(Debug, Default)]
struct Books {
    /// Times when a 502 from the proxy is explained by a death this test caused.
    excused: Vec<(Instant, Instant)>,
    /// Revisions ever given to a `Crash` install (numbers start over after uninstall).
    crashy: HashSet<u64>,
    /// Versions of `Crash` installs: they die whenever they run.
    crashy_versions: HashSet<String>,
    /// When this test sent a `SIGKILL`.
    kills: Vec<Instant>,
    /// Newest revision number seen.
    newest: u64,
    /// Fixture directories written so far (fresh version strings).
    versions: u64,
}

struct Model {
    seed: Option<u64>,
    plan: Vec<Step>,
    log: Vec<String>,
    core: Option<Core>,
    monitor: Option<Monitor>,
    books: Mutex<Books>,
    /// 502s the monitor saw inside excused windows (reported, not failures).
    excused_502: usize,
    /// The latest excused 502 after a `SIGKILL`, from the kill.
    longest_after_kill: Duration,
}

type Checked<T> = Result<T, String>;

impl Model {
    /// Runs `plan` (of `seed`, or a fixed one) against a fresh Core.
    async fn run(seed: Option<u64>, plan: Vec<Step>) {
        let started = Instant::now();
        let core = Core::start_in_configured(
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            options(),
            tweak,
        )
        .await;
        let monitor = Monitor::start(&core);
        let mut model = Model {
            seed,
            plan: plan.clone(),
            log: Vec::new(),
            core: Some(core),
            monitor: Some(monitor),
            books: Mutex::default(),
            excused_502: 0,
            longest_after_kill: Duration::ZERO,
        };
        let mut before = model.settle("at the start").await;
        for (index, step) in plan.into_iter().enumerate() {
            let began = Instant::now();
            let (text, post) = match model.step(step, &before).await {
                Ok(done) => done,
                Err(broken) => model.fail(&format!("step {index} ({step:?}): {broken}")),
            };
            model.log.push(format!(
                "step {index} {step:?} [{} ms]: {text}",
                began.elapsed().as_millis()
            ));
            let after = model.settle(&format!("after step {index}")).await;
            model.check_samples(index, began);
            if let Some(line) = model.log.last_mut() {
                let _ = write!(line, " => {after:?}");
            }
            if let Err(broken) = expect(&post, &after) {
                model.fail(&format!(
                    "step {index} ({step:?}) promised {post:?}: {broken}"
                ));
            }
            before = after;
        }
        let monitor = model.monitor.take().unwrap();
        let last = monitor.stop().await;
        model.check(last, usize::MAX, started);
        let core = model.core.take().unwrap();
        let data = core.data.path().to_owned();
        core.stop().await;
        if let Err(broken) = no_processes_left(&data).await {
            model.fail(&broken);
        }
        eprintln!(
            "model seed {seed:?}: {} steps in {} ms, {} excused 502s, the latest {:?} \
             after a SIGKILL\n{}",
            model.plan.len(),
            started.elapsed().as_millis(),
            model.excused_502,
            model.longest_after_kill,
            model.log.join("\n")
        );
    }

    fn core(&self) -> &Core {
        self.core.as_ref().unwrap()
    }

    fn data(&self) -> PathBuf {
        self.core().data.path().to_owned()
    }

    fn fail(&self, what: &str) -> ! {
        let mut plan = String::new();
        for (index, step) in self.plan.iter().enumerate() {
            let _ = writeln!(plan, "  {index}: {step:?}");
        }
        let replay = match self.seed {
            Some(seed) => format!(
                "seed {seed} (replay: MODEL_SEED={seed} MODEL_STEPS={} model_seed_a)",
                self.plan.len()
            ),
            None => "a fixed plan".to_owned(),
        };
        panic!(
            "model invariant broken, {replay}: {what}\nplan:\n{plan}steps so far:\n{}",
            self.log.join("\n")
        );
    }

    /// Runs one step; its outcome for the log and what it promises (only solo
    /// steps promise anything).
    async fn step(&mut self, step: Step, before: &Snapshot) -> Checked<(String, Post)> {
        match step {
            Step::One(Op::Restart) => self.restart(None, before).await,
            Step::One(Op::RestartDuringInstall { delay_ms }) => {
                self.restart(Some(delay_ms), before).await
            }
            Step::One(op) => self.op(op, before, true).await,
            Step::Both(a, b) => {
                let (a, b) = tokio::join!(self.op(a, before, false), self.op(b, before, false));
                Ok((format!("{} || {}", a?.0, b?.0), Post::Any))
            }
            Step::Staggered(a, delay_ms, b) => {
                let later = async {
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    self.op(b, before, false).await
                };
                let (a, b) = tokio::join!(self.op(a, before, false), later);
                Ok((format!("{} || {}", a?.0, b?.0), Post::Any))
            }
        }
    }

    /// One operation; `solo` when nothing else runs meanwhile.
    async fn op(&self, op: Op, before: &Snapshot, solo: bool) -> Checked<(String, Post)> {
        let began = Instant::now();
        let done = match op {
            Op::Good => {
                let (version, answer) = self.install(op).await?;
                let post = match answer.revision {
                    Some(revision) if answer.status == 200 => Post::Serves(revision),
                    // a SIGKILL in probation, say
                    _ if !solo => Post::Any,
                    _ => return Err(format!("good {version} not installed: {answer:?}")),
                };
                (format!("good {version}: {answer}"), post)
            }
            Op::Exit | Op::NeverListen | Op::Crash => {
                let (version, answer) = self.install(op).await?;
                if op == Op::Crash {
                    // the new process may die while traffic goes to it
                    self.excuse(began, Instant::now());
                }
                let stable = before.stable.filter(|_| before.installed);
                let post = match answer.revision {
                    _ if answer.status == 502 => Post::Stable(vec![stable]),
                    // a crash only after probation (a slow machine): it
                    // became stable and crashes whenever it runs
                    Some(revision) if op == Op::Crash && answer.status == 200 => {
                        Post::Serves(revision)
                    }
                    _ => return Err(format!("{op:?} {version} was not rolled back: {answer:?}")),
                };
                (format!("{op:?} {version}: {answer}"), post)
            }
            Op::Unhealthy => {
                let (version, answer) = self.install(op).await?;
                let post = match answer.revision {
                    Some(revision) if answer.status == 200 => Post::Serves(revision),
                    // under load it may turn unhealthy before its first probe passed
                    _ if answer.status == 502 => Post::Stable(vec![before.stable]),
                    _ => return Err(format!("unhealthy {version}: {answer:?}")),
                };
                (format!("unhealthy {version}: {answer}"), post)
            }
            Op::Rollback { pick } => {
                let newest = self.books.lock().unwrap().newest.max(1);
                let revision = 1 + pick % newest;
                let answer = self.rollback(revision).await?;
                if self.books.lock().unwrap().crashy.contains(&revision) {
                    self.excuse(began, Instant::now());
                }
                let post = match answer.status {
                    200 => Post::Serves(revision),
                    404 => Post::Gone,
                    _ => Post::Stable(vec![before.stable]),
                };
                (format!("rollback to {revision}: {answer}"), post)
            }
            Op::Kill { delay_ms } => {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                (self.kill_current().await?, Post::Any)
            }
            Op::Uninstall => {
                let status = self.uninstall().await?;
                if solo && before.installed && status != 200 {
                    return Err(format!(
                        "uninstall of an installed plugin answered {status}"
                    ));
                }
                (format!("uninstall: {status}"), Post::Gone)
            }
            Op::Restart | Op::RestartDuringInstall { .. } => {
                unreachable!("restarts are solo steps")
            }
        };
        Ok(done)
    }

    /// Writes a fresh version of kind `op` and installs it.
    async fn install(&self, op: Op) -> Checked<(String, Answer)> {
        let dir = self.fixture(op);
        let version = dir.file_name().unwrap().to_string_lossy().into_owned();
        let core = self.core();
        let answer = install_request(&core.client, &core.url, &core.token, &dir).await?;
        self.noted(op, &answer);
        Ok((version, answer))
    }

    fn fixture(&self, op: Op) -> PathBuf {
        let mode = match op {
            Op::Exit => "exit".to_owned(),
            Op::NeverListen => "never_listen".to_owned(),
            Op::Crash => format!("crash_after:{CRASH_AFTER_MS}"),
            Op::Unhealthy => format!("unhealthy_after:{UNHEALTHY_AFTER_MS}"),
            _ => String::new(),
        };
        let n = {
            let mut books = self.books.lock().unwrap();
            books.versions += 1;
            books.versions
        };
        let version = format!("1.0.{n}");
        if op == Op::Crash {
            let mut books = self.books.lock().unwrap();
            books.crashy_versions.insert(version.clone());
        }
        self.core().plugin(&version, HELLO, &version, move |m| {
            m["runtime"]["env"] = json!({ "HELLO_MODE": mode });
            m["runtime"]["health"]["interval_ms"] = PROBE_INTERVAL_MS.into();
        })
    }

    fn noted(&self, op: Op, answer: &Answer) {
        let Some(revision) = answer.revision else {
            return;
        };
        let mut books = self.books.lock().unwrap();
        books.newest = books.newest.max(revision);
        if op == Op::Crash {
            books.crashy.insert(revision);
        }
    }

    fn excuse(&self, from: Instant, to: Instant) {
        self.books.lock().unwrap().excused.push((from, to));
    }

    async fn rollback(&self, revision: u64) -> Checked<Answer> {
        let core = self.core();
        let url = format!("{}/api/plugins/{HELLO}/rollback", core.url);
        let response = core
            .authed(core.client.post(url))
            .json(&json!({ "revision": revision }))
            .send()
            .await
            .map_err(|e| format!("rollback to {revision}: no answer: {e}"))?;
        let answer = Answer::read(response).await?;
        match answer.status {
            // the plugin is not installed: an error body, not a report
            404 => Ok(answer),
            _ => answer.clean("rollback"),
        }
    }

    async fn uninstall(&self) -> Checked<u16> {
        let core = self.core();
        let url = format!("{}/api/plugins/dev/install?plugin_id={HELLO}", core.url);
        let response = core
            .authed(core.client.delete(url))
            .send()
            .await
            .map_err(|e| format!("uninstall: no answer: {e}"))?;
        match response.status().as_u16() {
            status @ (200 | 404) => Ok(status),
            status => Err(format!(
                "uninstall answered {status}: {}",
                response.text().await.unwrap_or_default()
            )),
        }
    }

    /// `SIGKILL` to the process of the revision the detail calls current.
    async fn kill_current(&self) -> Checked<String> {
        let (status, detail) = self.detail().await?;
        let Some(revision) = detail["revision"].as_u64().filter(|_| status == 200) else {
            return Ok("kill: nothing current".to_owned());
        };
        let victims: Vec<u32> = processes(&self.data())
            .into_iter()
            .filter(|(_, r)| *r == Some(revision))
            .map(|(pid, _)| pid)
            .collect();
        let at = Instant::now();
        self.books.lock().unwrap().kills.push(at);
        for pid in &victims {
            let _ = kill(Pid::from_raw(i32::try_from(*pid).unwrap()), Signal::SIGKILL);
        }
        // a request already on its way to the process may fail as well
        self.excuse(at - Duration::from_millis(50), at + DETECT);
        Ok(format!("kill {victims:?} of revision {revision}"))
    }

    /// Stops Core gracefully (optionally while an install is in flight) and
    /// starts it over the same directories.
    async fn restart(
        &mut self,
        during_install: Option<u64>,
        before: &Snapshot,
    ) -> Checked<(String, Post)> {
        let samples = self.monitor.take().unwrap().stop().await;
        self.check(samples, usize::MAX, Instant::now());
        let mut stables = vec![before.stable.filter(|_| before.installed)];
        let in_flight = match during_install {
            Some(delay_ms) => {
                let dir = self.fixture(Op::Good);
                let core = self.core();
                let (client, url, token) =
                    (core.client.clone(), core.url.clone(), core.token.clone());
                let sent =
                    tokio::spawn(async move { install_request(&client, &url, &token, &dir).await });
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                Some(sent)
            }
            None => None,
        };
        let core = self.core.take().unwrap();
        let data = core.data.path().to_owned();
        let (data_dir, work) = core.stop().await;
        no_processes_left(&data).await?;
        let mut text = String::from("restart");
        if let Some(sent) = in_flight {
            // an install Core received finishes before Core stops; one it
            // did not is refused or never answered
            let answer = sent.await.unwrap();
            match &answer {
                Ok(answer) => {
                    if let Some(revision) = answer.revision.filter(|_| answer.status == 200) {
                        stables.push(Some(revision));
                    }
                    self.noted(Op::Good, answer);
                }
                // not received, or received and then cut off: nothing to expect
                Err(_) => stables.clear(),
            }
            let answer = answer.as_ref().map(ToString::to_string);
            let _ = write!(text, " during an install ({answer:?})");
        }
        let core = Core::start_in_configured(data_dir, work, options(), tweak).await;
        self.monitor = Some(Monitor::start(&core));
        self.core = Some(core);
        let post = match stables.is_empty() {
            true => Post::Any,
            false => Post::Recovers(stables),
        };
        Ok((text, post))
    }

    async fn detail(&self) -> Checked<(u16, Value)> {
        let (status, body) = self.core().get(&format!("/api/plugins/{HELLO}")).await;
        match status {
            200 | 404 => Ok((status, body)),
            _ => Err(format!(
                "GET /api/plugins/{HELLO} answered {status}: {body}"
            )),
        }
    }

    /// Checks what the monitor saw during step `index` (begun at `began`)
    /// and the settling after it.
    fn check_samples(&mut self, index: usize, began: Instant) {
        let samples = self.monitor.as_ref().unwrap().take();
        self.check(samples, index, began);
    }

    fn check(&mut self, samples: Vec<Sample>, index: usize, began: Instant) {
        let (excused, crashy, kills) = {
            let books = self.books.lock().unwrap();
            (
                books.excused.clone(),
                books.crashy_versions.clone(),
                books.kills.clone(),
            )
        };
        // the version the detail called current just before or after sample `i`
        let crashy_near = |i: usize| {
            let near = [i.checked_sub(1), Some(i + 1)];
            near.into_iter().flatten().any(|j| {
                samples.get(j).is_some_and(|s: &Sample| {
                    s.what == "detail"
                        && serde_json::from_str::<Value>(&s.body).is_ok_and(|d| {
                            d["revision"].is_u64()
                                && d["version"].as_str().is_some_and(|v| crashy.contains(v))
                        })
                })
            })
        };
        for (i, sample) in samples.iter().enumerate() {
            let excusable = || {
                excused
                    .iter()
                    .any(|(from, to)| *from <= sample.sent && sample.sent <= *to)
                    || crashy_near(i)
            };
            let broken = match (sample.what, sample.status) {
                ("proxy", 200 | 404 | 503) | ("detail", 404) => None,
                ("detail", 200) => {
                    let detail: Value = serde_json::from_str(&sample.body).unwrap_or_default();
                    let state = detail["state"].as_str().unwrap_or_default();
                    (!STATES.contains(&state) || state == "stopped")
                        .then(|| format!("a running Core shows state {state:?}"))
                }
                ("proxy", 502) if excusable() => {
                    self.excused_502 += 1;
                    if let Some(kill) = kills.iter().rev().find(|k| **k <= sample.sent) {
                        let after = sample.sent.duration_since(*kill);
                        if after < DETECT {
                            self.longest_after_kill = self.longest_after_kill.max(after);
                        }
                    }
                    None
                }
                ("proxy", 502) => Some(dead_route(&samples, i, &kills)),
                _ => Some("an answer no route documents".to_owned()),
            };
            if let Some(broken) = broken {
                let when = match index {
                    usize::MAX => "around a restart or at the end".to_owned(),
                    _ => format!("during step {index}"),
                };
                self.fail(&format!(
                    "{when}: {broken}: {} answered {}, sent {:?} after the step began: {}",
                    sample.what,
                    sample.status,
                    sample.sent.saturating_duration_since(began),
                    sample.body
                ));
            }
        }
    }

    /// Waits until Core shows a consistent state of the plugin and returns it;
    /// fails with the last inconsistency after [`SETTLE`].
    async fn settle(&mut self, when: &str) -> Snapshot {
        let deadline = Instant::now() + SETTLE;
        loop {
            let last = match self.consistent().await {
                Ok(Ok(snapshot)) if ["failed", "crash_loop"].contains(&snapshot.state.as_str()) => {
                    // nothing runs and nothing is pending: it stays so
                    tokio::time::sleep(HOLD).await;
                    match self.consistent().await {
                        Ok(Ok(later)) if later == snapshot => return snapshot,
                        later => self.fail(&format!(
                            "{when}: {snapshot:?} did not stay so for {HOLD:?} with nothing \
                             going on: {later:?}"
                        )),
                    }
                }
                Ok(Ok(snapshot)) => return snapshot,
                Ok(Err(not_yet)) => not_yet,
                Err(broken) => self.fail(&format!("{when}: {broken}")),
            };
            if Instant::now() > deadline {
                self.fail(&format!("{when}: not consistent within {SETTLE:?}: {last}"));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `Ok(Ok(_))` consistent, `Ok(Err(why))` not (yet), `Err(_)` broken for good.
    async fn consistent(&self) -> Checked<Result<Snapshot, String>> {
        let data = self.data();
        let (status, detail) = self.detail().await?;
        let (proxied, hello) = self.core().proxy(HELLO, "/hello").await;
        let running = processes(&data);
        let seen = Snapshot::of(status, &detail);
        let stable_dir = seen.stable.map(|n| {
            let dir = data
                .join("plugins")
                .join(HELLO)
                .join("revisions")
                .join(n.to_string());
            (n, dir.is_dir())
        });
        let plugin_dir = data.join("plugins").join(HELLO).exists();
        let (status_after, detail_after) = self.detail().await?;
        if Snapshot::of(status_after, &detail_after) != seen {
            return Ok(Err(format!("changing: {seen:?}")));
        }
        if ![200, 404, 503].contains(&proxied) {
            return Ok(Err(format!(
                "{seen:?} but the proxy answers {proxied}: {hello}"
            )));
        }
        let why = if !seen.installed {
            match (proxied, running.is_empty(), plugin_dir) {
                (404, true, false) => return Ok(Ok(seen)),
                _ => format!(
                    "not installed, yet the proxy answers {proxied}, processes {running:?}, \
                     plugin directory left: {plugin_dir}"
                ),
            }
        } else if !STATES.contains(&seen.state.as_str()) || seen.state == "stopped" {
            return Err(format!("a running Core shows state {:?}", seen.state));
        } else if let Some((n, false)) = stable_dir {
            format!("stable revision {n} is not on disk ({seen:?})")
        } else {
            let serving = matches!(seen.state.as_str(), "active" | "rolled_back");
            let served = hello["revision"].as_u64();
            let of_current = running.iter().all(|(_, r)| *r == seen.revision);
            match seen.state.as_str() {
                _ if running.len() > 1 => format!("{} processes: {running:?}", running.len()),
                _ if !of_current => format!(
                    "processes {running:?} do not run the current revision {:?}",
                    seen.revision
                ),
                _ if serving && seen.revision != seen.stable => {
                    format!("serving revision {:?} is not the stable one", seen.revision)
                }
                _ if serving && (proxied, served) == (200, seen.revision) => {
                    if running.len() == 1 {
                        return Ok(Ok(seen));
                    }
                    format!("{seen:?} served but no process runs")
                }
                _ if serving => format!(
                    "{seen:?} but the proxy answers {proxied} from revision {served:?}: {hello}"
                ),
                "failed" | "crash_loop" if proxied == 503 && running.is_empty() => {
                    return Ok(Ok(seen));
                }
                // between a crash and its restart, or starting with Core: not
                // settled, but the route must lead nowhere
                "restarting" | "starting" if proxied == 503 => {
                    format!("{seen:?}: waiting for the restart")
                }
                _ => format!("{seen:?}: the proxy answers {proxied}, processes {running:?}"),
            }
        };
        Ok(Err(why))
    }
}

/// A solo step's promise against the settled state after it.
fn expect(post: &Post, after: &Snapshot) -> Result<(), String> {
    let stable = after.stable.filter(|_| after.installed);
    match post {
        Post::Any => Ok(()),
        Post::Gone if !after.installed => Ok(()),
        Post::Serves(revision)
            if after.installed
                && after.revision == Some(*revision)
                && stable == Some(*revision) =>
        {
            Ok(())
        }
        Post::Stable(allowed) if allowed.contains(&stable) => Ok(()),
        Post::Recovers(allowed)
            if allowed.contains(&stable)
                && (stable.is_none()
                    || after.revision == stable
                    || after.state == "crash_loop") =>
        {
            Ok(())
        }
        _ => Err(format!("found {after:?}")),
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

/// An install or rollback answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    revision: Option<u64>,
    /// The report's `status` (`active`, `rolled_back`, `rejected`).
    outcome: String,
    body: Value,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.outcome)?;
        if let Some(revision) = self.revision {
            write!(f, " rev {revision}")?;
        }
        if let Some(code) = self.body["reason"]["code"].as_str() {
            write!(f, " ({code})")?;
        }
        Ok(())
    }
}

impl Answer {
    async fn read(response: reqwest::Response) -> Checked<Answer> {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer {
            status,
            revision: body["revision"].as_u64(),
            outcome: body["status"].as_str().unwrap_or_default().to_owned(),
            body,
        })
    }

    /// A report with a status SPEC §3.2 documents, matching its outcome.
    fn clean(self, what: &str) -> Checked<Answer> {
        let fits = match self.status {
            200 => self.outcome == "active",
            400 | 409 | 422 => self.outcome == "rejected",
            502 => self.outcome == "rolled_back",
            _ => false,
        };
        if fits {
            Ok(self)
        } else {
            Err(format!(
                "{what} answered {} with {}",
                self.status, self.body
            ))
        }
    }
}

async fn install_request(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    dir: &Path,
) -> Checked<Answer> {
    let body = json!({"source": {"kind": "dir", "path": dir}});
    let response = client
        .post(format!("{url}/api/plugins/dev/install"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("install {}: no answer: {e}", dir.display()))?;
    Answer::read(response).await?.clean("install")
}

/// Live processes of the plugin under `data`, with their `PX_PLUGIN_REVISION`.
fn processes(data: &Path) -> Vec<(u32, Option<u64>)> {
    common::plugin_pids(HELLO, data)
        .into_iter()
        .map(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let revision = environ.split(|b| *b == 0).find_map(|v| {
                std::str::from_utf8(v)
                    .ok()?
                    .strip_prefix("PX_PLUGIN_REVISION=")?
                    .parse()
                    .ok()
            });
            (pid, revision)
        })
        .collect()
}

/// After a graceful stop, nothing of the plugin runs.
async fn no_processes_left(data: &Path) -> Checked<()> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left = processes(data);
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("processes left after Core stopped: {left:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Says how long the proxy answered 502 around sample `i` and since when a
/// `SIGKILL` of this test had ended the process.
fn dead_route(samples: &[Sample], i: usize, kills: &[Instant]) -> String {
    // the run of proxy answers of 502 (detail answers in between) around `i`
    let bad = |s: &&Sample| s.what != "proxy" || s.status == 502;
    let from = i - samples[..i].iter().rev().take_while(bad).count();
    let to = i + samples[i..].iter().take_while(bad).count();
    let run: Vec<&Sample> = samples[from..to]
        .iter()
        .filter(|s| s.what == "proxy")
        .collect();
    let (first, last) = (run[0].sent, run[run.len() - 1].sent);
    let kill = kills.iter().rev().find(|k| **k <= samples[i].sent).map_or(
        "no SIGKILL before them".to_owned(),
        |k| {
            format!(
                "the first was sent {:?} after this test's last SIGKILL",
                first.saturating_duration_since(*k)
            )
        },
    );
    format!(
        "the proxy routed to a dead process: {} answers of 502 over {:?} ({kill}; \
         {DETECT:?} after one are excused); this one",
        run.len(),
        last.saturating_duration_since(first)
    )
}
