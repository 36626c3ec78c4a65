//! Building `dist/` from a project: run `build.command`, then copy
//! `build.files` into a fresh directory that replaces `dist/` atomically.
//!
//! A `build.files` entry maps a dist path (relative, no `..`; `.` is the dist
//! root) to a source relative to the project (no `..`, not absolute):
//! - a glob (`*`, `?`, `[`, `{`) copies every matching file, keeping its path
//!   relative to the glob's leading non-glob directories (`static/**/*.js` →
//!   `static/a/b.js` lands at `<dist path>/a/b.js`); `*` does not cross `/`,
//!   `**` does;
//! - a directory is copied recursively (files only; empty directories are not);
//! - a file is copied to exactly the dist path.
//!
//! A `plugin.yaml` project without `build` gets the paths its descriptor
//! names instead ([`crate::descriptor_files`]), each at the same path in
//! `dist/`.
//!
//! Symlinks in sources are followed, but every copied file must really lie in
//! the project. `dist/` and the build's own temporary directories are never
//! sources. Permissions (so the executable bit) are preserved.

use std::fs;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use px_manifest::{MANIFEST_FILE, Manifest};
use walkdir::WalkDir;

use crate::descriptor::descriptor_files;
use crate::paths::{PathFault, is_reserved, normalize};
use crate::{BuildOutput, BundleError, command};

/// Name of the output directory inside the project.
const DIST_DIR: &str = "dist";
/// Prefix of the directories the new `dist/` is built in.
const TMP_PREFIX: &str = ".dist.tmp-";

/// One `build.files` entry, checked before anything runs.
struct Rule<'a> {
    /// Normalized dist path; empty for the dist root.
    dest: String,
    /// The source as written.
    source: &'a str,
    /// Normalized source path (or glob); empty for the project root.
    path: String,
    glob: Option<GlobMatcher>,
}

pub(crate) fn build_dist(
    project_dir: &Path,
    manifest: &Manifest,
    on_output: &mut dyn FnMut(BuildOutput),
) -> Result<PathBuf, BundleError> {
    let build = manifest.build.as_ref();
    let rules = build
        .map(|b| {
            b.files
                .iter()
                .map(|(dest, source)| Rule::new(dest, source))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    if let Some(command) = build.and_then(|b| b.command.as_deref()) {
        command::run(command, project_dir, on_output)?;
    }

    fill_dist(project_dir, manifest, |project, out| {
        rules.iter().try_for_each(|rule| rule.copy(project, out))
    })
}

/// Fills a fresh `dist/` with `manifest.json` and the paths `plugin.yaml`
/// names ([`descriptor_files`]), each at its own path.
pub(crate) fn build_from_descriptor(
    project_dir: &Path,
    manifest: &Manifest,
) -> Result<PathBuf, BundleError> {
    let named = descriptor_files(project_dir, manifest)?;
    fill_dist(project_dir, manifest, |project, out| {
        for copy in &named.copies {
            let rule = Rule::new(&copy.path, &copy.path)?;
            let src = project.join(&copy.path);
            if copy.dir {
                let dest = out.join(&copy.path);
                fs::create_dir_all(&dest).map_err(BundleError::io(&dest))?;
                rule.copy_tree(project, &src, out, |_| true)?;
            } else {
                rule.copy_file(project, &src, &out.join(&copy.path))?;
            }
        }
        for dir in &named.dirs {
            let dest = out.join(dir);
            fs::create_dir_all(&dest).map_err(BundleError::io(&dest))?;
        }
        Ok(())
    })
}

/// Builds `dist/` in a temporary directory beside it (`manifest.json`, then
/// what `fill` copies from the canonical project into it) and swaps it in.
fn fill_dist(
    project_dir: &Path,
    manifest: &Manifest,
    fill: impl FnOnce(&Path, &Path) -> Result<(), BundleError>,
) -> Result<PathBuf, BundleError> {
    let project = project_dir
        .canonicalize()
        .map_err(BundleError::io(project_dir))?;
    let tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempdir_in(&project)
        .map_err(BundleError::io(&project))?;
    let manifest_path = tmp.path().join(MANIFEST_FILE);
    fs::write(&manifest_path, manifest.to_dist_json()).map_err(BundleError::io(&manifest_path))?;
    fill(&project, tmp.path())?;
    let dist = project_dir.join(DIST_DIR);
    replace(tmp, &dist)?;
    Ok(dist)
}

impl<'a> Rule<'a> {
    fn new(dest: &str, source: &'a str) -> Result<Rule<'a>, BundleError> {
        let dest = match normalize(dest.as_bytes()) {
            Ok(path) if !is_reserved(&path) => path,
            Err(PathFault::Bad) if !dest.is_empty() => String::new(),
            _ => {
                return Err(BundleError::BadDistPath {
                    dist_path: dest.to_owned(),
                });
            }
        };
        let path = match normalize(source.as_bytes()) {
            Ok(path) => path,
            Err(PathFault::Bad) if !source.is_empty() => String::new(),
            Err(PathFault::Bad) => {
                return Err(BundleError::NoMatch {
                    pattern: source.to_owned(),
                });
            }
            Err(_) => {
                return Err(BundleError::SourceOutsideProject {
                    source_path: source.to_owned(),
                });
            }
        };
        let glob = if path.contains(['*', '?', '[', '{']) {
            let glob = GlobBuilder::new(&path)
                .literal_separator(true)
                .build()
                .map_err(|source_err| BundleError::BadGlob {
                    pattern: source.to_owned(),
                    source: source_err,
                })?;
            Some(glob.compile_matcher())
        } else {
            None
        };
        Ok(Rule {
            dest,
            source,
            path,
            glob,
        })
    }

    /// Copies this rule's files from `project` (canonical) into `out`.
    fn copy(&self, project: &Path, out: &Path) -> Result<(), BundleError> {
        let no_match = || BundleError::NoMatch {
            pattern: self.source.to_owned(),
        };
        let Some(glob) = &self.glob else {
            let src = project.join(&self.path);
            let meta = fs::metadata(&src).map_err(|_| no_match())?;
            if !meta.is_dir() {
                if self.dest.is_empty() {
                    return Err(BundleError::BadDistPath {
                        dist_path: ".".to_owned(),
                    });
                }
                return self.copy_file(project, &src, &out.join(&self.dest));
            }
            let copied = self.copy_tree(project, &src, out, |_| true)?;
            return if copied == 0 { Err(no_match()) } else { Ok(()) };
        };
        let prefix: Vec<&str> = self
            .path
            .split('/')
            .take_while(|c| !c.contains(['*', '?', '[', '{']))
            .collect();
        let base = project.join(prefix.join("/"));
        if !base.is_dir() {
            return Err(no_match());
        }
        let copied = self.copy_tree(project, &base, out, |rel| glob.is_match(rel))?;
        if copied == 0 { Err(no_match()) } else { Ok(()) }
    }

    /// Copies the files under `base` whose project-relative path passes
    /// `wanted` to `<dest>/<path relative to base>`; returns how many.
    fn copy_tree(
        &self,
        project: &Path,
        base: &Path,
        out: &Path,
        wanted: impl Fn(&Path) -> bool,
    ) -> Result<u64, BundleError> {
        let walk = WalkDir::new(base)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter();
        let mut copied = 0;
        for entry in walk.filter_entry(|e| !is_build_output(project, e.path())) {
            let entry = entry.map_err(|err| {
                let path = err
                    .path()
                    .map_or_else(|| base.to_path_buf(), Path::to_path_buf);
                BundleError::Io {
                    path,
                    source: err.into(),
                }
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let in_project = entry
                .path()
                .strip_prefix(project)
                .expect("walk starts inside the project");
            if !wanted(in_project) {
                continue;
            }
            let in_base = entry
                .path()
                .strip_prefix(base)
                .expect("walkdir yields paths under its root");
            self.copy_file(project, entry.path(), &out.join(&self.dest).join(in_base))?;
            copied += 1;
        }
        Ok(copied)
    }

    fn copy_file(&self, project: &Path, src: &Path, dest: &Path) -> Result<(), BundleError> {
        let real = src.canonicalize().map_err(BundleError::io(src))?;
        if !real.starts_with(project) {
            let shown = src
                .strip_prefix(project)
                .unwrap_or(src)
                .display()
                .to_string();
            return Err(BundleError::SourceOutsideProject { source_path: shown });
        }
        if fs::symlink_metadata(dest).is_ok() {
            let shown = dest.components().skip(project.components().count() + 1);
            return Err(BundleError::DistConflict {
                path: shown.collect::<PathBuf>().display().to_string(),
            });
        }
        let parent = dest.parent().expect("dest lies in the output directory");
        fs::create_dir_all(parent).map_err(BundleError::io(parent))?;
        fs::copy(&real, dest).map_err(BundleError::io(src))?;
        Ok(())
    }
}

/// Whether `path` is `dist/` or a build temporary directory at the project root.
fn is_build_output(project: &Path, path: &Path) -> bool {
    path.parent() == Some(project)
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n == DIST_DIR || n.starts_with(TMP_PREFIX))
}

/// Puts the finished `tmp` at `dist`, so `dist/` is at all times either the
/// old or the new tree (an atomic exchange where the OS has one).
fn replace(tmp: tempfile::TempDir, dist: &Path) -> Result<(), BundleError> {
    if fs::symlink_metadata(dist).is_err() {
        let built = tmp.keep();
        return fs::rename(&built, dist).map_err(BundleError::io(dist));
    }
    // Keep `tmp` as a guard while swapping: after the exchange it holds the
    // old tree and dropping it removes that.
    if exchange(tmp.path(), dist).is_ok() {
        return tmp.close().map_err(BundleError::io(dist));
    }
    let old = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempdir_in(dist.parent().expect("dist has a parent"))
        .map_err(BundleError::io(dist))?;
    let old_dist = old.path().join(DIST_DIR);
    fs::rename(dist, &old_dist).map_err(BundleError::io(dist))?;
    fs::rename(tmp.keep(), dist).map_err(BundleError::io(dist))?;
    old.close().map_err(BundleError::io(old_dist))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE).map_err(std::io::Error::from)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}
