//! `px-plugin validate [DIR|FILE.pxp]`

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use owo_colors::OwoColorize as _;
use px_manifest::{Loaded, ManifestError};
use serde_json::json;

use crate::cli::Global;
use crate::diagnostics;
use crate::exit::CliError;
use crate::output::{self, outln};

const EXAMPLES: &str = "\
Examples:
  px-plugin validate                     Check the plugin in the current directory
  px-plugin validate hello               Check ./hello/manifest.json (or plugin.yaml)
  px-plugin validate hello/dist          Check a built dist/ directory
  px-plugin validate hello/x-0.1.0.pxp   Unpack a bundle safely (checksums, limits) and check it
  px-plugin validate hello --json        {\"ok\":…,\"plugin_id\":…,\"version\":…,\"diagnostics\":[…]}

Each fault is printed as  file:line:column: error: /json/pointer: what was expected";

/// Check a plugin's manifest and report every fault at once.
///
/// Reads DIR/manifest.json, or PowerX's DIR/plugin.yaml when there is no
/// manifest.json, and checks it against the schema and the SDK rules (id
/// format, semver, permissions, menus, health path, static_dir, ...). Given a
/// .pxp file, first unpacks it into a temporary directory the way Core does,
/// refusing hostile or corrupt bundles. Exits 1 when there is any error;
/// warnings alone do not fail.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Validate {
    /// Plugin project directory, dist/ directory, or .pxp file
    #[arg(default_value = ".", value_name = "DIR|FILE.pxp")]
    pub path: PathBuf,
}

impl Validate {
    /// Validates and reports.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let file_name = self.path.file_name().and_then(|name| name.to_str());
        let dir = match file_name {
            // `validate hello/manifest.json` means the project that file belongs to.
            Some(px_manifest::MANIFEST_FILE | px_manifest::PLUGIN_YAML_FILE)
                if self.path.is_file() =>
            {
                self.path
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
            }
            _ if self.path.is_file() => return validate_pxp(&self.path, global),
            _ => &self.path,
        };
        let loaded = load(dir, global)?;
        report_valid(&loaded, None, global);
        Ok(())
    }
}

/// Unpacks `pxp` into a temporary directory and validates what came out.
fn validate_pxp(pxp: &Path, global: &Global) -> anyhow::Result<()> {
    let staging = tempfile::tempdir().context("creating a temporary directory")?;
    let file = File::open(pxp).with_context(|| format!("opening {}", pxp.display()))?;
    let summary = px_bundle::unpack(
        &mut BufReader::new(file),
        staging.path(),
        &px_bundle::Limits::default(),
    )
    .map_err(|err| CliError::Failed(format!("{} is not a valid bundle: {err}", pxp.display())))?;
    let loaded = load_as(staging.path(), Some(pxp), global)?;
    report_valid(&loaded, Some(&summary), global);
    Ok(())
}

fn report_valid(loaded: &Loaded, bundle: Option<&px_bundle::Summary>, global: &Global) {
    let manifest = &loaded.manifest;
    if global.json {
        let bundle =
            bundle.map(|s| json!({ "files": s.files, "bytes": s.bytes, "digest": s.digest }));
        output::emit_json(&json!({
            "ok": true,
            "plugin_id": manifest.id,
            "version": manifest.version,
            "path": loaded.path,
            "diagnostics": loaded.warnings,
            "bundle": bundle,
        }));
        return;
    }
    output::success(format_args!(
        "{} {} is valid",
        manifest.id, manifest.version
    ));
    if let Some(s) = bundle {
        outln!(
            "  {}  {} files ({}), sha256:{}",
            "bundle".dimmed(),
            s.files,
            output::human_bytes(s.bytes),
            s.digest
        );
    }
}

/// Loads and validates the manifest in `dir`. Warnings are printed (on stderr,
/// and not at all with `--json`, whose caller puts them in its own object).
/// On faults, prints every diagnostic (or, with `--json`, the failure object)
/// and fails with exit code 1.
pub fn load(dir: &Path, global: &Global) -> anyhow::Result<Loaded> {
    load_as(dir, None, global)
}

/// [`load`], naming the manifest `<shown>/<file>` in diagnostics (e.g. inside a `.pxp`).
fn load_as(dir: &Path, shown: Option<&Path>, global: &Global) -> anyhow::Result<Loaded> {
    let rename = |path: PathBuf| match (shown, path.file_name()) {
        (Some(shown), Some(file)) => shown.join(file),
        _ => path,
    };
    match px_manifest::load_dir(dir) {
        Ok(mut loaded) => {
            loaded.path = rename(loaded.path);
            if !global.json {
                diagnostics::print_all(&loaded.path, &loaded.warnings);
            }
            Ok(loaded)
        }
        Err(ManifestError::Invalid {
            path,
            diagnostics: found,
        }) => {
            let (id, version) = best_effort_identity(&path);
            let path = rename(path);
            if global.json {
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
            let errors = diagnostics::error_count(&found);
            let noun = if errors == 1 { "error" } else { "errors" };
            Err(CliError::Failed(format!("{} is invalid: {errors} {noun}", path.display())).into())
        }
        // `NotFound` and `Io` already say which file and why.
        Err(err) => Err(err.into()),
    }
}

/// `id` and `version` from an invalid manifest (`manifest.json` or
/// `plugin.yaml`), when they can still be read.
fn best_effort_identity(path: &Path) -> (Option<String>, Option<String>) {
    match std::fs::read_to_string(path) {
        Ok(text) => px_manifest::identity(&text, path),
        Err(_) => (None, None),
    }
}
