//! What `dev` prints: one summary line per reload, plugin log lines prefixed
//! with their revision in between, failures with their reason and stderr
//! tail; or, with `--json`, one JSON object per line for each of those.

use std::time::Duration;

use owo_colors::OwoColorize as _;
use px_api::{InstallReport, InstallStatus, LogMessage, PhaseReport};
use serde_json::json;

use crate::commands::install::{phases_line, print_failure};
use crate::commands::logs::print_message;
use crate::output::outln;

/// Most build output lines shown under a failed build.
const BUILD_TAIL: usize = 30;

/// The printer of one dev session.
#[derive(Debug, Clone, Copy)]
pub struct Render {
    /// One JSON object per line instead of text.
    pub json: bool,
}

impl Render {
    fn line(&self, value: serde_json::Value) {
        outln!("{value}");
    }

    /// `↻ r5 live in 182 ms  receive 1 · … · swap 0` (traffic moved to `revision`).
    pub fn live(
        &self,
        plugin_id: &str,
        revision: Option<u64>,
        since_save: Duration,
        phases: &[PhaseReport],
        install_id: Option<&str>,
    ) {
        let ms = since_save.as_millis() as u64;
        if self.json {
            self.line(json!({
                "kind": "live", "plugin_id": plugin_id, "revision": revision,
                "install_id": install_id, "ms": ms, "phases": phases,
            }));
            return;
        }
        let revision = revision.map_or_else(|| "r?".to_owned(), |r| format!("r{r}"));
        outln!(
            "{} {} live in {ms} ms  {}",
            "↻".green().bold(),
            revision.bold(),
            phases_line(phases)
        );
    }

    /// The final report: nothing more for an active one whose live line was
    /// printed; the live line now if it was not; the reason for a failure.
    pub fn report(&self, report: &InstallReport, live_printed: bool, since_save: Duration) {
        if self.json {
            self.line(json!({ "kind": "report", "report": report }));
            return;
        }
        // a rejected install was never staged: it has a version but no revision
        let revision = match (report.revision, report.version.as_str()) {
            (Some(r), _) => format!("r{r}"),
            (None, "") => String::new(),
            (None, version) => format!("v{version}"),
        };
        match report.status {
            InstallStatus::Active if live_printed => {}
            InstallStatus::Active => self.live(
                &report.plugin_id,
                report.revision,
                since_save,
                &report.phases,
                None,
            ),
            InstallStatus::RolledBack => {
                print_failure(&revision, "rolled back", report);
                if let Some(stable) = report.stable_revision {
                    outln!("  {} r{stable} still serves", "↺".dimmed());
                }
            }
            InstallStatus::Rejected => {
                print_failure(&revision, "rejected", report);
                if let Some(stable) = report.stable_revision {
                    outln!("  {} r{stable} still serves", "↺".dimmed());
                }
            }
        }
    }

    /// A build that failed (the session goes on).
    pub fn build_failed(&self, message: &str, output: &[String]) {
        let tail = &output[output.len().saturating_sub(BUILD_TAIL)..];
        if self.json {
            self.line(json!({ "kind": "build_failed", "message": message, "output": tail }));
            return;
        }
        outln!("{} build failed: {message}", "✗".red().bold());
        for line in tail {
            outln!("  {} {line}", "│".dimmed());
        }
    }

    /// An install request that got no report (e.g. Core went away).
    pub fn install_error(&self, error: &anyhow::Error) {
        if self.json {
            self.line(json!({ "kind": "install_error", "message": format!("{error:#}") }));
            return;
        }
        outln!("{} install failed: {error:#}", "✗".red().bold());
    }

    /// A message from `plugin.dev.logs` (log lines, and events not shown otherwise).
    pub fn message(&self, message: &LogMessage) {
        print_message(message, self.json);
    }

    /// Something about the session itself.
    pub fn note(&self, text: &str) {
        if self.json {
            self.line(json!({ "kind": "note", "message": text }));
            return;
        }
        outln!("{} {}", "·".dimmed(), text.dimmed());
    }
}
