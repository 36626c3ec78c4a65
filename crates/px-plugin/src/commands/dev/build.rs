//! One build. With a `build.command`, `px-plugin build DIR` runs as a child
//! process in its own process group, so a build still running when new
//! changes arrive can be killed together with its command; without one, the
//! files are copied in-process (`build.files`, or what a `plugin.yaml`
//! names). A `manifest.json` project without a build section is installed
//! as it is.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context as _;
use tokio::io::AsyncReadExt as _;
use tokio::sync::oneshot;

use super::watch;
use crate::commands::install::Artifact;

/// A finished build.
#[derive(Debug)]
pub struct Built {
    /// What to install.
    pub artifact: Artifact,
    /// The plugin id in the built manifest.
    pub plugin_id: String,
}

/// How a build ended.
#[derive(Debug)]
pub enum BuildEnd {
    /// Built; install it.
    Built(Built, String),
    /// The sources hash as the last build's did: nothing to do.
    Unchanged,
    /// The build failed: its message and output.
    Failed {
        /// Source hash, so the same sources are not rebuilt.
        hash: Option<String>,
        /// What failed.
        message: String,
        /// The build's output lines.
        output: Vec<String>,
    },
    /// Cancelled for newer changes.
    Cancelled,
}

/// Builds `dir` unless its sources hash to `previous`; `cancel` kills the build.
pub async fn build(
    dir: PathBuf,
    previous: Option<String>,
    cancel: oneshot::Receiver<()>,
) -> BuildEnd {
    let hashed = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || watch::source_hash(&dir)).await
    };
    let hash = match hashed {
        Ok(Ok(hash)) => hash,
        Ok(Err(err)) => return failed(None, format!("{err:#}"), Vec::new()),
        Err(err) => return failed(None, err.to_string(), Vec::new()),
    };
    if previous.as_deref() == Some(hash.as_str()) {
        return BuildEnd::Unchanged;
    }
    // A manifest.json project without a build section is installed as it is.
    if let Ok(loaded) = px_manifest::load_dir(&dir)
        && px_bundle::installs_as_is(&loaded)
    {
        let built = Built {
            artifact: Artifact::Dir(dir),
            plugin_id: loaded.manifest.id,
        };
        return BuildEnd::Built(built, hash);
    }
    // Without a build command (build.files only, or a plugin.yaml project
    // that takes the files its descriptor names), building only copies
    // files: done here, at once (nothing long to cancel). An invalid
    // manifest goes to the child, which prints its diagnostics.
    if let Ok(loaded) = px_manifest::load_dir(&dir)
        && loaded
            .manifest
            .build
            .as_ref()
            .is_none_or(|b| b.command.is_none())
    {
        let plugin_id = loaded.manifest.id.clone();
        let project = dir.clone();
        let copied = tokio::task::spawn_blocking(move || {
            px_bundle::build_project(&project, &loaded, &mut |_| {})
        })
        .await;
        return match copied {
            Ok(Ok(dist)) => BuildEnd::Built(
                Built {
                    artifact: Artifact::Dir(dist),
                    plugin_id,
                },
                hash,
            ),
            Ok(Err(err)) => failed(Some(hash), err.to_string(), Vec::new()),
            Err(err) => failed(Some(hash), err.to_string(), Vec::new()),
        };
    }
    match run_child(&dir, cancel).await {
        Ok(Some((true, _))) => match identity(&dir.join("dist")) {
            Ok(plugin_id) => BuildEnd::Built(
                Built {
                    artifact: Artifact::Dir(dir.join("dist")),
                    plugin_id,
                },
                hash,
            ),
            Err(err) => failed(Some(hash), format!("{err:#}"), Vec::new()),
        },
        Ok(Some((false, output))) => {
            let message = output
                .iter()
                .rev()
                .find_map(|line| line.strip_prefix("error: "))
                .unwrap_or("the build failed")
                .to_owned();
            let output = output
                .into_iter()
                .filter(|line| !line.starts_with("error: "))
                .collect();
            failed(Some(hash), message, output)
        }
        Ok(None) => BuildEnd::Cancelled,
        Err(err) => failed(Some(hash), format!("{err:#}"), Vec::new()),
    }
}

fn failed(hash: Option<String>, message: String, output: Vec<String>) -> BuildEnd {
    BuildEnd::Failed {
        hash,
        message,
        output,
    }
}

/// Runs `px-plugin build DIR`; `None` when cancelled, else success and its
/// stderr lines (diagnostics, build output, the error).
async fn run_child(
    dir: &Path,
    cancel: oneshot::Receiver<()>,
) -> anyhow::Result<Option<(bool, Vec<String>)>> {
    let exe = std::env::current_exe().context("finding the px-plugin executable")?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("build")
        .arg(dir)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = tokio::process::Command::from(command)
        .kill_on_drop(true)
        .spawn()
        .context("starting the build")?;
    let pid = child.id();
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let read = async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    };
    let outcome = {
        let finished = async { tokio::join!(child.wait(), read) };
        tokio::select! {
            done = finished => Some(done),
            _ = cancel => None,
        }
    };
    match outcome {
        Some((status, text)) => {
            let status = status.context("waiting for the build")?;
            let lines = text.lines().map(str::to_owned).collect();
            Ok(Some((status.success(), lines)))
        }
        None => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait().await;
            Ok(None)
        }
    }
}

/// The plugin id of a built `dist/`.
fn identity(dist: &Path) -> anyhow::Result<String> {
    let path = dist.join(px_manifest::MANIFEST_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    value
        .get("id")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .with_context(|| format!("{} has no id", path.display()))
}
