//! `px-plugin install [DIR|FILE.pxp|FILE.tar.gz] [--mode dir|upload]`

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use owo_colors::OwoColorize as _;
use px_api::{InstallReport, InstallStatus, PhaseReport};
use reqwest::StatusCode;

use crate::cli::Global;
use crate::client::CoreClient;
use crate::commands::validate;
use crate::exit::CliError;
use crate::output::{self, Spinner, outln};

const EXAMPLES: &str = "\
Examples:
  px-plugin install                       Build the plugin in . and install it into Core
  px-plugin install hello                 Same for ./hello
  px-plugin install hello-0.1.0.pxp       Upload a bundle
  px-plugin install package.tar.gz        Upload a PowerX package (gzip tar, payload/plugin.yaml)
  px-plugin install --mode upload         Upload even though Core runs on this machine
  px-plugin install --json                The install report as one JSON object

Exit codes: 0 live, 1 rolled back or rejected, 3 cannot reach Core";

/// Install (or hot-reload) a plugin into Core.
///
/// Given a project directory, builds it first (like `px-plugin build`; a
/// plugin.yaml project takes the files its descriptor names), then installs
/// its dist/; a manifest.json project without a build section is installed
/// as it is. When Core runs on this machine, Core reads dist/ in
/// place (a directory install; falls back to an upload when Core's policy
/// does not allow the directory); otherwise the .pxp bundle is uploaded. A
/// .pxp file or a PowerX package (.tar.gz, .tgz) is uploaded as it is.
/// Prints the install report: each phase with its time, the outcome, and on
/// failure the reason with the plugin's last stderr lines.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Install {
    /// Plugin project directory, a .pxp file, or a PowerX package (.tar.gz, .tgz)
    #[arg(default_value = ".", value_name = "DIR|FILE.pxp|FILE.tar.gz")]
    pub path: PathBuf,

    /// How Core gets the plugin: `dir` (Core reads dist/ on this machine) or
    /// `upload` (send the .pxp); default: dir when Core's host is loopback
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
}

/// How Core receives the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Core reads the directory (it must be on Core's filesystem, under `dev.allowed_dirs`).
    Dir,
    /// The bundle is sent in the request.
    Upload,
}

/// What gets installed.
#[derive(Debug, Clone)]
pub enum Artifact {
    /// A built `dist/` (or a directory installed as it is).
    Dir(PathBuf),
    /// A `.pxp` file.
    Pxp(PathBuf),
    /// A PowerX package: a gzip tar (`.tar.gz`, `.tgz`).
    Package(PathBuf),
}

impl Install {
    /// Builds when needed, installs, prints the report.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let core = CoreClient::from_global(global)?;
        let artifact = prepare(&self.path, global)?;
        let runtime = crate::client::runtime()?;
        let spinner = Spinner::start(format!("installing into {}", core.url()), global.json);
        let result = runtime.block_on(send(&core, &artifact, self.mode, &mut |note| {
            spinner.suspend(|| anstream::eprintln!("{} {note}", "note:".cyan().bold()))
        }));
        spinner.finish();
        let (_, report) = result?;
        if global.json {
            output::emit_json(&serde_json::to_value(&report).expect("reports serialize"));
        } else {
            print_report(&report);
        }
        check(&report)
    }
}

/// Ok when the report says the new revision is live, else a failure (exit 1).
pub fn check(report: &InstallReport) -> anyhow::Result<()> {
    match (&report.status, &report.reason) {
        (InstallStatus::Active, _) => Ok(()),
        (status, reason) => {
            let status = match status {
                InstallStatus::RolledBack => "rolled back",
                _ => "rejected",
            };
            let code = reason.as_ref().map_or("unknown", |r| r.code.as_str());
            Err(CliError::Failed(format!("install {status}: {code}")).into())
        }
    }
}

/// Turns a command-line path into what gets installed, building a project.
pub fn prepare(path: &Path, global: &Global) -> anyhow::Result<Artifact> {
    if path.is_file() {
        let name = path.to_string_lossy();
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            return Ok(Artifact::Package(path.to_owned()));
        }
        return Ok(Artifact::Pxp(path.to_owned()));
    }
    if !path.exists() {
        return Err(CliError::Usage(format!(
            "{} does not exist: give a plugin project directory, a .pxp file or a .tar.gz package",
            path.display()
        ))
        .into());
    }
    let loaded = validate::load(path, global)?;
    let manifest = &loaded.manifest;
    if px_bundle::installs_as_is(&loaded) {
        return Ok(Artifact::Dir(path.to_owned()));
    }
    let spinner = Spinner::start(
        format!("building {} {}", manifest.id, manifest.version),
        global.json,
    );
    let mut on_output = |line: px_bundle::BuildOutput| {
        spinner.suspend(|| match line {
            px_bundle::BuildOutput::Stdout(text) | px_bundle::BuildOutput::Stderr(text) => {
                anstream::eprintln!("  {} {}", "│".dimmed(), text.dimmed())
            }
        })
    };
    let dist = px_bundle::build_project(path, &loaded, &mut on_output);
    spinner.finish();
    Ok(Artifact::Dir(dist.with_context(|| {
        format!("building dist/ for {}", manifest.id)
    })?))
}

/// Installs `artifact`, choosing the mode as documented on [`Install`];
/// `note` hears about a fallback to upload.
pub async fn send(
    core: &CoreClient,
    artifact: &Artifact,
    mode: Option<Mode>,
    note: &mut (dyn FnMut(String) + Send),
) -> anyhow::Result<(StatusCode, InstallReport)> {
    let dir = match artifact {
        Artifact::Pxp(file) => {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            return core.install_pxp(bytes).await;
        }
        Artifact::Package(file) => {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            return core.install_package(bytes).await;
        }
        Artifact::Dir(dir) => {
            std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?
        }
    };
    let chosen = mode.unwrap_or(if core.is_local() {
        Mode::Dir
    } else {
        Mode::Upload
    });
    if chosen == Mode::Dir {
        let (status, report) = core.install_dir(&dir).await?;
        let refused_dir = status == StatusCode::BAD_REQUEST
            && report
                .reason
                .as_ref()
                .is_some_and(|r| r.code == px_api::ReasonCode::BadRequest);
        if !(refused_dir && mode.is_none()) {
            return Ok((status, report));
        }
        let why = report.reason.map(|r| r.message).unwrap_or_default();
        note(format!(
            "core cannot read {} ({why}); uploading the bundle instead",
            dir.display()
        ));
    }
    let bytes = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        px_bundle::pack(&dir, &mut bytes).map(|_| bytes)
    })
    .await
    .context("packing the bundle")?
    .context("packing the bundle")?;
    core.install_pxp(bytes).await
}

/// `receive 1 · validate 2 · …` for the phases given.
pub fn phases_line(phases: &[PhaseReport]) -> String {
    phases
        .iter()
        .map(|p| {
            let text = format!("{} {}", p.name.as_str(), p.ms);
            if p.ok { text } else { text.red().to_string() }
        })
        .collect::<Vec<_>>()
        .join(&" · ".dimmed().to_string())
}

/// The report for people: outcome, phases, and on failure the reason and log tail.
pub fn print_report(report: &InstallReport) {
    let revision = report
        .revision
        .map(|r| format!(" r{r}"))
        .unwrap_or_default();
    let who = format!("{} {}{revision}", report.plugin_id, report.version);
    match report.status {
        InstallStatus::Active => output::success(format_args!(
            "{} live in {} ms",
            who.bold(),
            report.duration_ms
        )),
        status => {
            let what = if status == InstallStatus::RolledBack {
                "rolled back"
            } else {
                "rejected"
            };
            print_failure(&who, what, report);
        }
    }
    outln!("  {}", phases_line(&report.phases));
    if report.status != InstallStatus::Active
        && let Some(stable) = report.stable_revision
    {
        outln!("  {} r{stable} still serves", "stable".dimmed());
    }
}

/// `✗ <who> <what>: <code> — <message>` and the log tail.
pub fn print_failure(who: &str, what: &str, report: &InstallReport) {
    let (code, message) = report
        .reason
        .as_ref()
        .map_or(("unknown", ""), |r| (r.code.as_str(), r.message.as_str()));
    let who = who.trim();
    let who = if who.is_empty() {
        String::new()
    } else {
        format!("{} ", who.bold())
    };
    outln!(
        "{} {who}{what}: {} — {message}",
        "✗".red().bold(),
        code.red()
    );
    if let Some(reason) = &report.reason {
        for detail in &reason.details {
            outln!("  {} {}", "·".dimmed(), detail_line(detail));
        }
        for line in &reason.log_tail {
            outln!("  {} {}", "│".yellow(), line);
        }
    }
}

/// A reason detail on one line (manifest diagnostics have pointer and message).
fn detail_line(detail: &serde_json::Value) -> String {
    match (detail.get("pointer"), detail.get("message")) {
        (Some(pointer), Some(message)) => format!(
            "{}: {}",
            pointer
                .as_str()
                .filter(|p| !p.is_empty())
                .unwrap_or("(root)"),
            message.as_str().unwrap_or_default()
        ),
        _ => detail.to_string(),
    }
}
