//! What the test sees: settled snapshots, the background monitor of the
//! proxy and the API, install answers, the plugin's processes, and what a
//! solo step promises.

use super::*;

/// What a solo step promises about the state it leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Post {
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
pub(crate) struct Snapshot {
    pub(crate) installed: bool,
    pub(crate) state: String,
    pub(crate) revision: Option<u64>,
    pub(crate) stable: Option<u64>,
    pub(crate) restarts: u64,
}

impl Snapshot {
    pub(crate) fn of(status: u16, detail: &Value) -> Snapshot {
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
pub(crate) struct Sample {
    /// When the request was sent.
    pub(crate) sent: Instant,
    pub(crate) what: &'static str,
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// Asks the proxy and the detail route all the time while steps run.
pub(crate) struct Monitor {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) samples: Arc<Mutex<Vec<Sample>>>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl Monitor {
    pub(crate) fn start(core: &Core) -> Monitor {
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

    pub(crate) fn take(&self) -> Vec<Sample> {
        std::mem::take(&mut *self.samples.lock().unwrap())
    }

    pub(crate) async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        std::mem::take(&mut *self.samples.lock().unwrap())
    }
}

/// A solo step's promise against the settled state after it.
pub(crate) fn expect(post: &Post, after: &Snapshot) -> Result<(), String> {
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

/// An install or rollback answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) revision: Option<u64>,
    /// The report's `status` (`active`, `rolled_back`, `rejected`).
    pub(crate) outcome: String,
    pub(crate) body: Value,
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
    pub(crate) async fn read(response: reqwest::Response) -> Checked<Answer> {
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
    pub(crate) fn clean(self, what: &str) -> Checked<Answer> {
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

pub(crate) async fn install_request(
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
pub(crate) fn processes(data: &Path) -> Vec<(u32, Option<u64>)> {
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
pub(crate) async fn no_processes_left(data: &Path) -> Checked<()> {
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
pub(crate) fn dead_route(samples: &[Sample], i: usize, kills: &[Instant]) -> String {
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
