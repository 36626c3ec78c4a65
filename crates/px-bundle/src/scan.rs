//! Walking a `dist/` directory into the sorted list of entries a bundle holds.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use px_manifest::{MANIFEST_FILE, PLUGIN_YAML_FILE};
use walkdir::WalkDir;

use crate::BundleError;
use crate::checksums::{self, Checksums};
use crate::paths::is_reserved;
use crate::tree::{Fault, Node, Tree};

/// What an entry of `dist/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File { exec: bool },
    Symlink(String),
}

/// One entry of `dist/`, by its `/`-separated path relative to `dist/`.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) rel: String,
    pub(crate) kind: Kind,
}

/// A scanned `dist/` with its checksums.
#[derive(Debug)]
pub(crate) struct Scanned {
    /// The entry packed first: `manifest.json`, else `plugin.yaml`.
    pub(crate) descriptor: &'static str,
    /// Entries sorted by path (so every directory precedes its contents).
    pub(crate) items: Vec<Item>,
    pub(crate) sums: Checksums,
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

/// Lists `dist` (without following symlinks), refusing what a bundle cannot
/// hold, and hashes every file.
pub(crate) fn scan(dist: &Path) -> Result<Scanned, BundleError> {
    let mut items = Vec::new();
    for entry in WalkDir::new(dist).min_depth(1).follow_links(false) {
        let entry = entry.map_err(|err| {
            let path = err
                .path()
                .map_or_else(|| dist.to_path_buf(), Path::to_path_buf);
            BundleError::Io {
                path,
                source: err.into(),
            }
        })?;
        let rel = entry
            .path()
            .strip_prefix(dist)
            .expect("walkdir yields paths under its root");
        let rel = utf8(rel)?.to_owned();
        if is_reserved(&rel) {
            return Err(BundleError::ReservedPath { path: rel });
        }
        let file_type = entry.file_type();
        let kind = if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_file() {
            let meta = entry.metadata().map_err(|err| BundleError::Io {
                path: entry.path().into(),
                source: err.into(),
            })?;
            Kind::File {
                exec: meta.permissions().mode() & 0o111 != 0,
            }
        } else if file_type.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(BundleError::io(entry.path()))?;
            Kind::Symlink(canonical_target(utf8(&target)?))
        } else {
            return Err(BundleError::SpecialFile { path: rel });
        };
        items.push(Item { rel, kind });
    }
    items.sort_by(|a, b| a.rel.cmp(&b.rel));

    let is_file = |name: &str| {
        items
            .iter()
            .any(|item| item.rel == name && matches!(item.kind, Kind::File { .. }))
    };
    let descriptor = [MANIFEST_FILE, PLUGIN_YAML_FILE]
        .into_iter()
        .find(|name| is_file(name))
        .ok_or_else(|| BundleError::MissingManifest {
            dir: dist.to_path_buf(),
        })?;
    check_symlinks(&items)?;

    let mut sums = Checksums::new();
    let (mut files, mut bytes) = (0, 0);
    for item in &items {
        match &item.kind {
            Kind::Dir => {}
            Kind::File { .. } => {
                let (hash, len) = checksums::hash_file(&dist.join(&item.rel))?;
                sums.insert(item.rel.clone(), hash);
                files += 1;
                bytes += len;
            }
            Kind::Symlink(target) => {
                sums.insert(item.rel.clone(), checksums::symlink_value(target));
            }
        }
    }
    Ok(Scanned {
        descriptor,
        items,
        sums,
        files,
        bytes,
    })
}

fn check_symlinks(items: &[Item]) -> Result<(), BundleError> {
    let mut tree = Tree::default();
    for item in items {
        let node = match &item.kind {
            Kind::Dir => Node::Dir,
            Kind::File { .. } => Node::File,
            Kind::Symlink(target) => Node::Symlink(target.clone()),
        };
        tree.insert(item.rel.clone(), node);
    }
    tree.check_all_symlinks()
        .map_err(|(path, target, fault)| match fault {
            Fault::Escape => BundleError::SymlinkEscape { path, target },
            Fault::Loop => BundleError::SymlinkLoop { path },
        })
}

/// A symlink target without `.` or empty components (as tar stores it), so
/// the target recorded in checksums is the one unpacking reads back.
pub(crate) fn canonical_target(target: &str) -> String {
    let parts: Vec<&str> = target
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    match (target.starts_with('/'), parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".to_owned(),
        (false, false) => parts.join("/"),
    }
}

fn utf8(path: &Path) -> Result<&str, BundleError> {
    path.to_str().ok_or_else(|| BundleError::NonUtf8Path {
        path: PathBuf::from(path),
    })
}
