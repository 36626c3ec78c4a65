//! The model: runs a plan against a real Core and checks the invariants
//! after every step.

use super::*;

/// What operations record while they run (they run two at a time).
#[derive(Debug, Default)]
pub(crate) struct Books {
    /// Times when a 502 from the proxy is explained by a death this test caused.
    pub(crate) excused: Vec<(Instant, Instant)>,
    /// Revisions ever given to a `Crash` install (numbers start over after uninstall).
    pub(crate) crashy: HashSet<u64>,
    /// Versions of `Crash` installs: they die whenever they run.
    pub(crate) crashy_versions: HashSet<String>,
    /// When this test sent a `SIGKILL`.
    pub(crate) kills: Vec<Instant>,
    /// Newest revision number seen.
    pub(crate) newest: u64,
    /// Fixture directories written so far (fresh version strings).
    pub(crate) versions: u64,
}

pub(crate) struct Model {
    pub(crate) seed: Option<u64>,
    pub(crate) plan: Vec<Step>,
    pub(crate) log: Vec<String>,
    pub(crate) core: Option<Core>,
    pub(crate) monitor: Option<Monitor>,
    pub(crate) books: Mutex<Books>,
    /// 502s the monitor saw inside excused windows (reported, not failures).
    pub(crate) excused_502: usize,
    /// The latest excused 502 after a `SIGKILL`, from the kill.
    pub(crate) longest_after_kill: Duration,
}

pub(crate) type Checked<T> = Result<T, String>;

impl Model {
    /// Runs `plan` (of `seed`, or a fixed one) against a fresh Core.
    pub(crate) async fn run(seed: Option<u64>, plan: Vec<Step>) {
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

    pub(crate) fn core(&self) -> &Core {
        self.core.as_ref().unwrap()
    }

    pub(crate) fn data(&self) -> PathBuf {
        self.core().data.path().to_owned()
    }

    pub(crate) fn fail(&self, what: &str) -> ! {
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
    pub(crate) async fn step(&mut self, step: Step, before: &Snapshot) -> Checked<(String, Post)> {
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
    pub(crate) async fn op(
        &self,
        op: Op,
        before: &Snapshot,
        solo: bool,
    ) -> Checked<(String, Post)> {
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
    pub(crate) async fn install(&self, op: Op) -> Checked<(String, Answer)> {
        let dir = self.fixture(op);
        let version = dir.file_name().unwrap().to_string_lossy().into_owned();
        let core = self.core();
        let answer = install_request(&core.client, &core.url, &core.token, &dir).await?;
        self.noted(op, &answer);
        Ok((version, answer))
    }

    pub(crate) fn fixture(&self, op: Op) -> PathBuf {
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

    pub(crate) fn noted(&self, op: Op, answer: &Answer) {
        let Some(revision) = answer.revision else {
            return;
        };
        let mut books = self.books.lock().unwrap();
        books.newest = books.newest.max(revision);
        if op == Op::Crash {
            books.crashy.insert(revision);
        }
    }

    pub(crate) fn excuse(&self, from: Instant, to: Instant) {
        self.books.lock().unwrap().excused.push((from, to));
    }

    pub(crate) async fn rollback(&self, revision: u64) -> Checked<Answer> {
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

    pub(crate) async fn uninstall(&self) -> Checked<u16> {
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
    pub(crate) async fn kill_current(&self) -> Checked<String> {
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
    pub(crate) async fn restart(
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

    pub(crate) async fn detail(&self) -> Checked<(u16, Value)> {
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
    pub(crate) fn check_samples(&mut self, index: usize, began: Instant) {
        let samples = self.monitor.as_ref().unwrap().take();
        self.check(samples, index, began);
    }

    pub(crate) fn check(&mut self, samples: Vec<Sample>, index: usize, began: Instant) {
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
    pub(crate) async fn settle(&mut self, when: &str) -> Snapshot {
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
    pub(crate) async fn consistent(&self) -> Checked<Result<Snapshot, String>> {
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
