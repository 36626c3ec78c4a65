//! `px-plugin validate [DIR]`

use std::path::{Path, PathBuf};

use px_manifest::{Loaded, ManifestError};
use serde_json::json;

use crate::cli::Global;
use crate::diagnostics;
use crate::exit::CliError;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  px-plugin validate                     Check the plugin in the current directory
  px-plugin validate hello               Check ./hello/manifest.json (or plugin.yaml)
  px-plugin validate hello/dist          Check a built dist/ directory
  px-plugin validate hello --json        {\"ok\":…,\"plugin_id\":…,\"version\":…,\"diagnostics\":[…]}

Each fault is printed as  file:line:column: error: /json/pointer: what was expected";

/// Check a plugin's manifest and report every fault at once.
///
/// Reads DIR/manifest.json, or PowerX's DIR/plugin.yaml when there is no
/// manifest.json, and checks it against the schema and the SDK rules (id
/// format, semver, permissions, menus, health path, static_dir, ...). Exits 1
/// when there is any error; warnings alone do not fail.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Validate {
    /// Plugin project or dist/ directory
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

impl Validate {
    /// Validates and reports.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let loaded = load(&self.dir, global)?;
        let manifest = &loaded.manifest;
        if global.json {
            output::emit_json(&json!({
                "ok": true,
                "plugin_id": manifest.id,
                "version": manifest.version,
                "path": loaded.path,
                "diagnostics": loaded.warnings,
            }));
        } else {
            output::success(format_args!(
                "{} {} is valid",
                manifest.id, manifest.version
            ));
        }
        Ok(())
    }
}

/// Loads and validates the manifest in `dir`. Warnings are printed (on stderr,
/// and not at all with `--json`, whose caller puts them in its own object).
/// On faults, prints every diagnostic (or, with `--json`, the failure object)
/// and fails with exit code 1.
pub fn load(dir: &Path, global: &Global) -> anyhow::Result<Loaded> {
    match px_manifest::load_dir(dir) {
        Ok(loaded) => {
            if !global.json {
                diagnostics::print_all(&loaded.path, &loaded.warnings);
            }
            Ok(loaded)
        }
        Err(ManifestError::Invalid {
            path,
            diagnostics: found,
        }) => {
            let errors = diagnostics::error_count(&found);
            if global.json {
                let (id, version) = best_effort_identity(&path);
                output::emit_json(&json!({
                    "ok": false,
                    "plugin_id": id,
                    "version": version,
                    "path": path,
                    "diagnostics": found,
                }));
            } else {
                diagnostics::print_all(&path, &found);
            }
            let noun = if errors == 1 { "error" } else { "errors" };
            Err(CliError::Failed(format!("{} is invalid: {errors} {noun}", path.display())).into())
        }
        // `NotFound` and `Io` already say which file and why.
        Err(err) => Err(err.into()),
    }
}

/// `id` and `version` from an invalid manifest, when they can still be read.
fn best_effort_identity(path: &Path) -> (Option<String>, Option<String>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (None, None);
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return (None, None);
    };
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    (field("id"), field("version"))
}
