//! `px-plugin status [DIR]`

use std::path::{Path, PathBuf};

use owo_colors::OwoColorize as _;
use px_api::{Health, Me, PluginState, PluginSummary};
use serde_json::json;

use crate::cli::Global;
use crate::client::CoreClient;
use crate::output::{self, outln};

/// Show Core's state, who you are, the installed plugins, and whether the
/// plugin in DIR runs your latest build.
///
/// The last part compares the digest of the running revision with DIR/dist/:
/// "stale" means you built since the last install (run `px-plugin install`).
#[derive(Debug, clap::Args)]
pub struct Status {
    /// Plugin project directory to compare with what runs
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// The local plugin compared with what Core runs.
#[derive(Debug, serde::Serialize)]
struct Local {
    plugin_id: String,
    dist_digest: Option<String>,
    running_digest: Option<String>,
    running_revision: Option<u64>,
    /// `up_to_date`, `stale`, `not_built`, `not_installed`
    state: &'static str,
}

impl Status {
    /// Gathers and prints.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let core = CoreClient::from_global(global)?;
        let runtime = crate::client::runtime()?;
        let health = runtime.block_on(core.health())?;
        let me = core.token().map(|_| runtime.block_on(core.me()));
        let plugins = match &me {
            Some(Ok(_)) => Some(runtime.block_on(core.plugins())),
            _ => None,
        };
        let installed: &[PluginSummary] = match &plugins {
            Some(Ok(list)) => &list.plugins,
            _ => &[],
        };
        let local = local(&self.dir, installed);
        if global.json {
            output::emit_json(&json!({
                "ok": true,
                "core": { "url": core.url(), "reachable": true, "version": health.version, "dev_mode": health.dev_mode },
                "me": match &me { Some(Ok(me)) => json!(me), Some(Err(e)) => json!({"error": format!("{e:#}")}), None => json!(null) },
                "plugins": match &plugins { Some(Ok(list)) => json!(list.plugins), Some(Err(e)) => json!({"error": format!("{e:#}")}), None => json!(null) },
                "local": local,
            }));
            return Ok(());
        }
        print_core(&core, &health);
        print_me(me.as_ref());
        match &plugins {
            Some(Ok(_)) => print_plugins(installed),
            Some(Err(err)) => outln!("{:>9}  {}", "plugins".dimmed(), format!("{err:#}").red()),
            None => {}
        }
        if let Some(local) = local {
            print_local(&local);
        }
        Ok(())
    }
}

fn print_core(core: &CoreClient, health: &Health) {
    let dev = if health.dev_mode {
        "dev mode on".green().to_string()
    } else {
        "dev mode OFF (start Core with --dev)".red().to_string()
    };
    output::success(format_args!(
        "core {} at {} · {dev}",
        health.version,
        core.url()
    ));
}

fn print_me(me: Option<&anyhow::Result<Me>>) {
    match me {
        None => outln!(
            "{:>9}  not logged in (run `px-plugin login` or pass --token)",
            "you".dimmed()
        ),
        Some(Ok(me)) => outln!(
            "{:>9}  {} ({})",
            "you".dimmed(),
            me.actor.bold(),
            me.permissions.join(", ")
        ),
        Some(Err(err)) => outln!("{:>9}  {}", "you".dimmed(), format!("{err:#}").red()),
    }
}

fn print_plugins(plugins: &[PluginSummary]) {
    if plugins.is_empty() {
        outln!("{:>9}  none installed", "plugins".dimmed());
        return;
    }
    outln!("{:>9}", "plugins".dimmed());
    for plugin in plugins {
        let state = state_text(plugin.state);
        let revision = plugin.revision.map_or("-".to_owned(), |r| format!("r{r}"));
        let stable = plugin
            .stable_revision
            .map_or(String::new(), |r| format!(" (stable r{r})"));
        outln!(
            "  {:<32} {:<10} {:<5}{stable:<14} {state}",
            plugin.id,
            plugin.version,
            revision
        );
        if let Some(reason) = &plugin.last_reason {
            outln!(
                "  {:<32} {} {}",
                "",
                "last failure:".dimmed(),
                reason.code.as_str().red()
            );
        }
    }
}

fn state_text(state: PluginState) -> String {
    let text = serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match state {
        PluginState::Active => text.green().to_string(),
        PluginState::Starting | PluginState::Restarting => text.yellow().to_string(),
        _ => text.red().to_string(),
    }
}

fn local(dir: &Path, installed: &[PluginSummary]) -> Option<Local> {
    let manifest = px_manifest::load_dir(dir).ok()?.manifest;
    let dist = dir.join("dist");
    let dist_digest = px_bundle::digest_dir(&dist).ok().map(|s| s.digest);
    let running = installed.iter().find(|p| p.id == manifest.id);
    let running_digest = running.and_then(|p| p.digest.clone());
    let state = match (&dist_digest, &running_digest) {
        (_, None) => "not_installed",
        (None, Some(_)) => "not_built",
        (Some(local), Some(remote)) if local == remote => "up_to_date",
        _ => "stale",
    };
    Some(Local {
        plugin_id: manifest.id,
        dist_digest,
        running_digest,
        running_revision: running.and_then(|p| p.revision),
        state,
    })
}

fn print_local(local: &Local) {
    let revision = local
        .running_revision
        .map_or(String::new(), |r| format!("r{r} "));
    let text = match local.state {
        "up_to_date" => format!("{revision}runs your latest build")
            .green()
            .to_string(),
        "stale" => {
            format!("{revision}is STALE: dist/ differs from what runs (run `px-plugin install`)")
                .yellow()
                .to_string()
        }
        "not_built" => "no dist/ here to compare (run `px-plugin build`)".to_owned(),
        _ => "not installed in this Core (run `px-plugin install` or `px-plugin dev`)".to_owned(),
    };
    outln!("{:>9}  {} {text}", "here".dimmed(), local.plugin_id.bold());
}
