//! A real Core on 127.0.0.1:0 with a temporary data directory, driven over
//! HTTP, and plugin fixtures built from `examples/plugins/hello-python`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use px_api::InstallReport;
use px_core::Config;
use serde_json::Value;

/// Id of the example plugin.
pub const HELLO: &str = "com.example.hello";

/// Knobs for a test Core.
#[derive(Debug, Clone)]
pub struct Options {
    pub probation_ms: u64,
    pub health_timeout_ms: u64,
    pub max_bundle_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            probation_ms: 300,
            health_timeout_ms: 5_000,
            max_bundle_bytes: 16 << 20,
        }
    }
}

/// A running Core and what a test needs to talk to it.
#[derive(Debug)]
pub struct Core {
    pub url: String,
    pub token: String,
    pub client: reqwest::Client,
    /// The data directory.
    pub data: tempfile::TempDir,
    /// The one directory `dev.allowed_dirs` allows.
    pub work: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Core {
    pub async fn start() -> Core {
        Core::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Core {
        let data = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        Core::start_in(data, work, options).await
    }

    /// Starts a Core whose config `tweak` adjusts last (dev mode, policy, …).
    pub async fn start_configured(options: Options, tweak: impl FnOnce(&mut Config)) -> Core {
        let data = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        Core::start_in_configured(data, work, options, tweak).await
    }

    /// Starts a Core over an existing data directory (a restart).
    pub async fn start_in(
        data: tempfile::TempDir,
        work: tempfile::TempDir,
        options: Options,
    ) -> Core {
        Core::start_in_configured(data, work, options, |_| {}).await
    }

    /// [`Core::start_in`] with a config `tweak` (a restart with other settings).
    pub async fn start_in_configured(
        data: tempfile::TempDir,
        work: tempfile::TempDir,
        options: Options,
        tweak: impl FnOnce(&mut Config),
    ) -> Core {
        let mut config = Config::new(data.path());
        config.dev = true;
        config.policy.dev.allowed_dirs = vec![work.path().to_owned()];
        config.policy.dev.probation_ms = options.probation_ms;
        config.policy.dev.health_timeout_ms = options.health_timeout_ms;
        config.policy.dev.max_bundle_bytes = options.max_bundle_bytes;
        tweak(&mut config);
        let store = px_core::Store::connect(&config.database_url())
            .await
            .unwrap();
        if store.user_by_name("dev").await.unwrap().is_none() {
            store.add_user("dev", "admin", None).await.unwrap();
        }
        let token = store.create_user_token("dev", "tests").await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(px_core::serve(config, listener, async move {
            let _ = rx.await;
        }));
        Core {
            url,
            token,
            client: reqwest::Client::new(),
            data,
            work,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops Core gracefully and hands back its directories.
    pub async fn stop(mut self) -> (tempfile::TempDir, tempfile::TempDir) {
        self.shutdown.take().unwrap().send(()).unwrap();
        self.task.take().unwrap().await.unwrap().unwrap();
        let data = std::mem::replace(&mut self.data, tempfile::tempdir().unwrap());
        let work = std::mem::replace(&mut self.work, tempfile::tempdir().unwrap());
        (data, work)
    }

    pub fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(&self.token)
    }

    /// Installs a directory; returns the HTTP status and the report.
    pub async fn install_dir(&self, dir: &Path) -> (u16, InstallReport) {
        let body = serde_json::json!({"source": {"kind": "dir", "path": dir}});
        let response = self
            .authed(
                self.client
                    .post(format!("{}/api/plugins/dev/install", self.url)),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        report(response).await
    }

    /// Uploads `.pxp` bytes.
    pub async fn install_pxp(&self, bytes: Vec<u8>) -> (u16, InstallReport) {
        let response = self
            .authed(
                self.client
                    .post(format!("{}/api/plugins/dev/install", self.url)),
            )
            .header("content-type", px_api::PXP_CONTENT_TYPE)
            .body(bytes)
            .send()
            .await
            .unwrap();
        report(response).await
    }

    /// `GET` on Core with the token; status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .authed(self.client.get(format!("{}{path}", self.url)))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET /_p/<id>/api<path>` without credentials.
    pub async fn proxy(&self, id: &str, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}/_p/{id}/api{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until `GET /_p/<id>/api/hello` answers 200 and returns its body.
    pub async fn wait_serving(&self, id: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let (status, body) = self.proxy(id, "/hello").await;
            if status == 200 {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{id} did not serve within {limit:?}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A plugin fixture under the allowed directory (see [`write_plugin`]).
    pub fn plugin(
        &self,
        name: &str,
        id: &str,
        version: &str,
        tweak: impl FnOnce(&mut Value),
    ) -> PathBuf {
        let dir = self.work.path().join(name);
        write_plugin(&dir, id, version, tweak);
        dir
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn report(response: reqwest::Response) -> (u16, InstallReport) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let report = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not a report ({status}): {e}: {text}"));
    (status, report)
}

/// The example plugin's directory in the repository.
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugins/hello-python")
}

/// Writes a `dist/`-like copy of hello-python into `dir` (replacing what is
/// there) with the given id and version; `tweak` edits the manifest JSON.
pub fn write_plugin(dir: &Path, id: &str, version: &str, tweak: impl FnOnce(&mut Value)) {
    let example = example_dir();
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir.join("admin")).unwrap();
    std::fs::copy(example.join("server.py"), dir.join("server.py")).unwrap();
    std::fs::copy(
        example.join("admin/index.html"),
        dir.join("admin/index.html"),
    )
    .unwrap();
    let text = std::fs::read_to_string(example.join("manifest.json")).unwrap();
    let mut manifest: Value = serde_json::from_str(&text).unwrap();
    let object = manifest.as_object_mut().unwrap();
    object.remove("build");
    object.insert("id".into(), id.into());
    object.insert("version".into(), version.into());
    // permission keys must be unique across plugins (menu ids only within one)
    let suffix = id.replace('.', "-");
    manifest["admin"]["menus"][0]["id"] = format!("home-{suffix}").into();
    manifest["permissions"][0]["key"] = format!("{}:read", suffix.replace('_', "-")).into();
    manifest["admin"]["menus"][0]["permission"] = manifest["permissions"][0]["key"].clone();
    tweak(&mut manifest);
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

/// Sets `runtime.env.HELLO_MODE`.
pub fn mode(mode: &str) -> impl FnOnce(&mut Value) {
    let mode = mode.to_owned();
    move |m: &mut Value| {
        m["runtime"]["env"] = serde_json::json!({ "HELLO_MODE": mode });
    }
}

/// Pids of live (non-zombie) processes whose environment has `PX_PLUGIN_ID=<id>`
/// and whose `PX_PLUGIN_DATA_DIR` lies in `data`.
pub fn plugin_pids(id: &str, data: &Path) -> Vec<u32> {
    let needle_id = format!("PX_PLUGIN_ID={id}");
    let needle_dir = format!("PX_PLUGIN_DATA_DIR={}", data.display());
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .trim_start()
            .chars()
            .next();
        if state == Some('Z') {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let vars: Vec<String> = environ
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        if vars.contains(&needle_id) && vars.iter().any(|v| v.starts_with(&needle_dir)) {
            pids.push(pid);
        }
    }
    pids
}

/// The environment of process `pid`.
pub fn environ(pid: u32) -> Vec<(String, String)> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    environ
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| {
            let text = String::from_utf8_lossy(v);
            let (k, v) = text.split_once('=').unwrap_or((&text, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Waits until `check` holds, or panics with `what`.
pub async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Packs `dir` into `.pxp` bytes.
pub fn pack(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    px_bundle::pack(dir, &mut out).unwrap();
    out
}
