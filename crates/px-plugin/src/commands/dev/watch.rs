//! Watching a project for changes: debounced file events (~100 ms), with
//! build outputs, VCS and editor files ignored, and a content hash of the
//! source set so a save that changes nothing is skipped.

use std::path::{Component, Path};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use sha2::{Digest as _, Sha256};

/// Quiet time after the last change before a rebuild.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Directories never watched nor hashed: build outputs, dependencies, VCS, caches.
const IGNORED_DIRS: &[&str] = &[
    "dist",
    "target",
    "node_modules",
    "__pycache__",
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".idea",
    ".vscode",
    ".powerx",
];

/// Whether a path (relative to the project) is not a source of the plugin.
pub fn ignored(relative: &Path) -> bool {
    let components: Vec<&str> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => name.to_str(),
            _ => None,
        })
        .collect();
    let Some((file, dirs)) = components.split_last() else {
        return false;
    };
    if dirs
        .iter()
        .any(|d| IGNORED_DIRS.contains(d) || d.starts_with(".dist.tmp-"))
    {
        return true;
    }
    IGNORED_DIRS.contains(file)
        || file.starts_with(".dist.tmp-")
        || file.ends_with(".pxp")
        || file.contains(".pxp.partial-")
        || file.ends_with(".pyc")
        || file.ends_with(".swp")
        || file.ends_with(".swx")
        || file.ends_with('~')
        || file.starts_with(".#")
        || *file == "4913" // vim's write probe
        || *file == ".DS_Store"
}

/// A running watcher; dropping it stops watching.
pub type Watcher = Debouncer<notify::RecommendedWatcher, RecommendedCache>;

/// Watches `dir` recursively and calls `on_change` with the time of the first
/// relevant change of each debounced batch.
pub fn watch(dir: &Path, on_change: impl Fn(Instant) + Send + 'static) -> anyhow::Result<Watcher> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let base = root.clone();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        let Ok(events) = result else { return };
        let first = events
            .iter()
            .filter(|e| !e.kind.is_access() && !e.kind.is_other())
            .filter(|e| {
                e.paths.iter().any(|path| {
                    path.strip_prefix(&base).is_ok_and(|relative| {
                        !relative.as_os_str().is_empty() && !ignored(relative)
                    })
                })
            })
            .map(|e| e.time)
            .min();
        if let Some(first) = first {
            on_change(first);
        }
    })
    .context("starting the file watcher")?;
    debouncer
        .watch(&root, RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", root.display()))?;
    Ok(debouncer)
}

/// sha256 over every source file's relative path, executable bit and content
/// (sorted, ignored paths left out).
pub fn source_hash(dir: &Path) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut hasher = Sha256::new();
    let walk = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            entry
                .path()
                .strip_prefix(dir)
                .is_ok_and(|relative| relative.as_os_str().is_empty() || !ignored(relative))
        });
    for entry in walk {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let Ok(content) = std::fs::read(entry.path()) else {
            continue; // removed while we walked: the next event rehashes
        };
        let executable = entry
            .metadata()
            .is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0, u8::from(executable)]);
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_outputs_and_editor_files_are_ignored() {
        for path in [
            "dist/manifest.json",
            "target/debug/x",
            "web/node_modules/a/b.js",
            "__pycache__/server.cpython-312.pyc",
            ".git/index",
            "hello-0.1.0.pxp",
            ".hello-0.1.0.pxp.partial-42",
            ".dist.tmp-abc/server.py",
            "server.py~",
            ".server.py.swp",
            "4913",
        ] {
            assert!(ignored(Path::new(path)), "{path}");
        }
        for path in [
            "server.py",
            "admin/index.html",
            "manifest.json",
            "src/dist.rs",
            "distro/x",
        ] {
            assert!(!ignored(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn the_hash_follows_sources_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("server.py"), "print(1)").unwrap();
        let first = source_hash(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join("dist")).unwrap();
        std::fs::write(dir.path().join("dist/server.py"), "print(2)").unwrap();
        assert_eq!(source_hash(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("server.py"), "print(2)").unwrap();
        assert_ne!(source_hash(dir.path()).unwrap(), first);
    }
}
