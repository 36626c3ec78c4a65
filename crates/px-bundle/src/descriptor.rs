//! What a `plugin.yaml` project without a `build` section puts in `dist/`:
//! the paths its descriptor names, derived from the model alone.

use std::path::Path;

use px_manifest::{Manifest, RuntimeKind};

use crate::BundleError;
use crate::paths::{PathFault, normalize};

/// Directory name of a Nuxt build's output: a path through it means the whole
/// output directory (server, public files and chunks belong together).
const NUXT_OUTPUT: &str = ".output";
/// The PowerX config directory (`POWERX_PLUGIN_CONFIG_DIR=<root>/config`).
const CONFIG_DIR: &str = "config";

/// The files and directories a `plugin.yaml` project's `dist/` holds besides
/// `manifest.json` (see [`descriptor_files`](crate::descriptor_files)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescriptorFiles {
    /// What is copied, sorted by path, none inside another.
    pub copies: Vec<Named>,
    /// Directories created in `dist/` (empty when nothing else puts files
    /// there), sorted.
    pub dirs: Vec<String>,
}

/// One path the descriptor names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// Normalized path relative to the project (and to `dist/`).
    pub path: String,
    /// The `plugin.yaml` key that names it, e.g. `runtime.entry`.
    pub key: String,
    /// Whether it is a directory (copied whole) rather than a file.
    pub dir: bool,
}

pub(crate) fn descriptor_files(
    project_dir: &Path,
    manifest: &Manifest,
) -> Result<DescriptorFiles, BundleError> {
    let mut wanted: Vec<(String, String, Kind)> = Vec::new();
    let mut process = |key: &str, entry: &str, args: &[String]| {
        wanted.push((format!("{key}.entry"), entry.to_owned(), Kind::Program));
        if let Some(first) = args.first() {
            wanted.push((format!("{key}.args[0]"), first.clone(), Kind::Program));
        }
    };
    if manifest.runtime.kind == RuntimeKind::Process
        && let Some(entry) = &manifest.runtime.entry
    {
        process("runtime", entry, &manifest.runtime.args);
    }
    let admin = manifest.admin.as_ref();
    if let Some(admin_process) = admin.and_then(|a| a.process.as_ref()) {
        process(
            "frontend.admin.process",
            &admin_process.entry,
            &admin_process.args,
        );
    }
    if let Some(dir) = admin.and_then(|a| a.static_dir.as_deref()) {
        wanted.push(("frontend.admin.static_dir".into(), dir.into(), Kind::Dir));
    }
    if let Some(migrations) = &manifest.migrations {
        let entry = migrations.entry.clone();
        wanted.push(("migrations.entry".into(), entry, Kind::Program));
    }

    let mut copies = Vec::new();
    for (key, value, kind) in wanted {
        if kind == Kind::Program && !is_path_like(&value) {
            continue;
        }
        let Some(path) = relative(&key, &value)? else {
            continue;
        };
        let (path, dir) = match nuxt_output(&path) {
            Some(output) => (output, true),
            None => (path, kind == Kind::Dir),
        };
        let meta = std::fs::metadata(project_dir.join(&path));
        if !meta.as_ref().is_ok_and(|m| m.is_dir() == dir) {
            return Err(missing(&key, &path, dir, meta.is_ok()));
        }
        copies.push(Named { path, key, dir });
    }
    if project_dir.join(CONFIG_DIR).is_dir() {
        copies.push(Named {
            path: CONFIG_DIR.into(),
            key: "config/".into(),
            dir: true,
        });
    }
    copies.sort_by(|a, b| a.path.cmp(&b.path));
    // a path named twice, or inside a directory already copied, is copied once
    let mut kept: Vec<Named> = Vec::new();
    for named in copies {
        let covered = kept.iter().any(|k| {
            k.path == named.path || (k.dir && named.path.starts_with(&format!("{}/", k.path)))
        });
        if !covered {
            kept.push(named);
        }
    }

    let mut dirs = Vec::new();
    let workdir = manifest
        .migrations
        .as_ref()
        .and_then(|m| m.workdir.as_deref());
    if let Some(workdir) = workdir
        && let Some(path) = relative("migrations.workdir", workdir)?
    {
        dirs.push(path);
    }
    Ok(DescriptorFiles { copies: kept, dirs })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A program or its first argument: a path when it looks like one.
    Program,
    /// Always a directory.
    Dir,
}

/// PowerX's rule: a value starting with `.` or holding a `/` is a path; a
/// bare name is a command on `PATH`. An absolute path lies outside the
/// project (a program of the machine) and is not copied either.
fn is_path_like(value: &str) -> bool {
    (value.starts_with('.') || value.contains('/')) && !value.starts_with('/')
}

/// The normalized relative path, `None` for the project root itself or an
/// absolute path; a `..` is an error.
fn relative(key: &str, value: &str) -> Result<Option<String>, BundleError> {
    match normalize(value.as_bytes()) {
        Ok(path) => Ok(Some(path)),
        Err(PathFault::DotDot) => Err(BundleError::SourceOutsideProject {
            source_path: format!("{value} ({key})"),
        }),
        Err(PathFault::Absolute | PathFault::Bad) => Ok(None),
    }
}

/// `web-admin/.output/server/index.mjs` → `web-admin/.output`.
fn nuxt_output(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    let at = parts.iter().position(|part| *part == NUXT_OUTPUT)?;
    Some(parts[..=at].join("/"))
}

fn missing(key: &str, path: &str, dir: bool, exists: bool) -> BundleError {
    let what = if exists {
        if dir {
            "is not a directory"
        } else {
            "is not a file"
        }
    } else {
        "does not exist"
    };
    let hint = if key.starts_with("runtime.") {
        format!("build the backend first (go build -o {path} ./backend/cmd/plugin)")
    } else if key.starts_with("migrations.") {
        format!("build the migrations first (go build -o {path} ./backend/cmd/migrate)")
    } else {
        let app = match path.split_once(&format!("/{NUXT_OUTPUT}")) {
            Some((app, _)) => app,
            None => path.split('/').next().unwrap_or(path),
        };
        format!("build the admin first (npm run build in {app})")
    };
    BundleError::NamedPathMissing {
        key: key.to_owned(),
        path: path.to_owned(),
        problem: what.to_owned(),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_like_follows_powerx() {
        assert!(is_path_like("backend/bin/plugin"));
        assert!(is_path_like("./plugin"));
        assert!(is_path_like(".output/server/index.mjs"));
        assert!(!is_path_like("node"));
        assert!(!is_path_like("python3"));
        assert!(!is_path_like("/usr/bin/node"));
    }

    #[test]
    fn nuxt_output_is_the_whole_directory() {
        assert_eq!(
            nuxt_output("web-admin/.output/server/index.mjs").as_deref(),
            Some("web-admin/.output")
        );
        assert_eq!(nuxt_output("web-admin/dist/index.mjs"), None);
    }
}
