//! A real Core in this test process (`px_core::serve` on 127.0.0.1:0, dev
//! mode, a temporary data dir, `dev.allowed_dirs` = a temporary work dir)
//! and the real `px-plugin` binary running against it.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// A Core running on its own runtime.
pub struct LiveCore {
    pub url: String,
    pub token: String,
    /// Under `dev.allowed_dirs`: put plugin projects here.
    pub work: tempfile::TempDir,
    /// Used as `XDG_CONFIG_HOME` for the CLI, so no real login is read.
    pub config: tempfile::TempDir,
    data: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    http: reqwest::Client,
}

impl LiveCore {
    /// Starts a Core with `probation_ms` of probation.
    pub fn start(probation_ms: u64) -> LiveCore {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let data = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let config = tempfile::tempdir().unwrap();
        let mut core_config = px_core::Config::new(data.path());
        core_config.dev = true;
        core_config.policy.dev.allowed_dirs = vec![work.path().canonicalize().unwrap()];
        core_config.policy.dev.probation_ms = probation_ms;
        core_config.policy.dev.health_timeout_ms = 5_000;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let (url, token) = runtime.block_on(async {
            let store = px_core::Store::connect(&core_config.database_url())
                .await
                .unwrap();
            store.add_user("dev", "admin", None).await.unwrap();
            let token = store.create_user_token("dev", "tests").await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(px_core::serve(core_config, listener, async move {
                let _ = stopped.await;
            }));
            (url, token)
        });
        LiveCore {
            url,
            token,
            work,
            config,
            data,
            runtime,
            shutdown: Some(shutdown),
            http: reqwest::Client::new(),
        }
    }

    /// Adds a user with `role` and returns a token for it.
    pub fn token_for(&self, name: &str, role: &str) -> String {
        let config = px_core::Config::new(self.data.path());
        self.runtime.block_on(async {
            let store = px_core::Store::connect(&config.database_url())
                .await
                .unwrap();
            store.add_user(name, role, None).await.unwrap();
            store.create_user_token(name, "tests").await.unwrap()
        })
    }

    /// `GET url` (with the token when `authed`): status and body text.
    pub fn get(&self, path: &str, authed: bool) -> (u16, String) {
        self.get_with(path, authed, &[])
    }

    /// `GET url` with extra request `headers`.
    pub fn get_with(&self, path: &str, authed: bool, headers: &[(&str, &str)]) -> (u16, String) {
        let mut request = self.http.get(format!("{}{path}", self.url));
        if authed {
            request = request.bearer_auth(&self.token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.runtime.block_on(async {
            match request.timeout(Duration::from_secs(10)).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (status, response.text().await.unwrap_or_default())
                }
                Err(err) => (0, err.to_string()),
            }
        })
    }

    /// `GET /_p/<id>/api/hello`.
    pub fn hello(&self, id: &str) -> (u16, String) {
        self.get(&format!("/_p/{id}/api/hello"), false)
    }

    /// Polls `/_p/<id>/api/hello` until its body contains `needle`; returns when.
    pub fn wait_hello(&self, id: &str, needle: &str, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            let (status, body) = self.hello(id);
            if status == 200 && body.contains(needle) {
                return Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "{id} did not answer {needle:?} within {limit:?}: {status} {body}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `px-plugin` against this Core, in `cwd`, with a clean color-free environment.
    pub fn cli(&self, cwd: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_px-plugin"));
        command
            .current_dir(cwd)
            .env("PX_CORE_URL", &self.url)
            .env("PX_TOKEN", &self.token)
            .env("XDG_CONFIG_HOME", self.config.path())
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE");
        command
    }

    /// `px-plugin new NAME` in the work dir; returns the project dir.
    pub fn new_project(&self, name: &str) -> PathBuf {
        self.new_from(name, "python")
    }

    /// `px-plugin new NAME --template TEMPLATE` in the work dir; returns the project dir.
    pub fn new_from(&self, name: &str, template: &str) -> PathBuf {
        let status = self
            .cli(self.work.path())
            .args(["new", name, "--template", template])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        self.work.path().join(name)
    }
}

impl Drop for LiveCore {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A running `px-plugin` whose stdout lines are collected.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line seen so far (stdout and stderr), for failure messages.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// Spawns `command` with stdout and stderr piped.
    pub fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for (stream, tx) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, Some(tx)),
            (Box::new(stderr), None),
        ] {
            let seen = seen.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    seen.lock().unwrap().push(line.clone());
                    if let Some(tx) = &tx {
                        let _ = tx.send(line);
                    }
                }
            });
        }
        Running { child, lines, seen }
    }

    /// Waits for a stdout line containing `needle`; returns it.
    pub fn expect(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!(
            "no line containing {needle:?} within {limit:?}; output so far:\n{}",
            self.seen.lock().unwrap().join("\n")
        );
    }

    /// Sends SIGINT and waits for the exit code.
    pub fn interrupt(mut self) -> i32 {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "px-plugin did not stop on SIGINT"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces `from` by `to` in `file` (asserting it was there).
pub fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}
