//! `px-plugin uninstall [ID]`

use anyhow::Context as _;
use serde_json::json;

use crate::cli::Global;
use crate::client::CoreClient;
use crate::output;

/// Remove a plugin from Core: stop its process and remove its routes, menus,
/// permissions and files.
///
/// ID defaults to the id in ./manifest.json (or ./plugin.yaml); a project
/// directory works too.
#[derive(Debug, clap::Args)]
pub struct Uninstall {
    /// Plugin id or project directory (default: the plugin in the current directory)
    pub id: Option<String>,
}

impl Uninstall {
    /// Uninstalls and reports.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let id = plugin_id(self.id)?;
        let core = CoreClient::from_global(global)?;
        crate::client::runtime()?
            .block_on(core.uninstall(&id))
            .with_context(|| format!("uninstalling {id}"))?;
        if global.json {
            output::emit_json(&json!({ "ok": true, "plugin_id": id, "uninstalled": true }));
        } else {
            output::success(format_args!("uninstalled {id}"));
        }
        Ok(())
    }
}

/// The plugin an `[ID|DIR]` argument names: a directory (a plugin id has
/// dots and is never one) is read for its id, as is the current directory
/// when the argument is absent.
pub fn plugin_id(arg: Option<String>) -> anyhow::Result<String> {
    match arg {
        Some(arg) if std::path::Path::new(&arg).is_dir() => local_id(std::path::Path::new(&arg))
            .with_context(|| format!("reading the plugin id of directory {arg}")),
        Some(id) => Ok(id),
        None => local_id(std::path::Path::new(".")),
    }
}

/// The plugin id of the project in `dir` (its manifest need not be valid).
pub fn local_id(dir: &std::path::Path) -> anyhow::Result<String> {
    match px_manifest::load_dir(dir) {
        Ok(loaded) => Ok(loaded.manifest.id),
        Err(px_manifest::ManifestError::Invalid { path, .. }) => {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("id")?.as_str().map(str::to_owned))
                .with_context(|| format!("{} has no readable id", path.display()))
        }
        Err(err) => {
            Err(anyhow::Error::new(err)
                .context("no plugin id given and none in the current directory"))
        }
    }
}
