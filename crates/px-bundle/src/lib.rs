//! Plugin bundles: produce `dist/` from a project's `build` section, pack a
//! deterministic `.pxp` (zstd tar, `manifest.json` first, `.pxp/checksums.json`),
//! and unpack one safely into a staging directory under size limits.
//!
//! Used by the CLI (build, pack) and by Core (unpack, digests). This crate
//! does not validate manifests beyond loading them through `px-manifest`, and
//! knows nothing about installing or running plugins.
//!
//! # The `.pxp` format
//!
//! One zstd frame (level 3, with content checksum) holding a tar stream:
//! 1. `manifest.json`;
//! 2. `.pxp/checksums.json`: a JSON object, keys sorted, mapping the path of
//!    every regular file to its sha256 hex and of every symlink to
//!    `symlink:<target>` (directories are not listed, nor the file itself);
//! 3. every other entry of `dist/`, sorted by path.
//!
//! Headers are normalized (mtime 0, uid/gid 0, no owner names, mode 0644, or
//! 0755 for directories and executables), so the same tree always packs to
//! the same bytes. Symlinks are kept only when they resolve inside the bundle;
//! hardlinks, devices, FIFOs and sockets are never packed and never unpacked.
//! The bundle's digest is the sha256 hex of `.pxp/checksums.json`.

mod checksums;
mod command;
mod dist;
mod error;
mod meter;
mod pack;
mod paths;
mod scan;
mod tree;
mod unpack;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub use error::BundleError;
pub use meter::RATIO_GRACE_BYTES;

/// Path of the checksum file inside a `.pxp`.
pub const CHECKSUMS_PATH: &str = ".pxp/checksums.json";
/// Media type of a `.pxp` upload.
pub const PXP_MEDIA_TYPE: &str = "application/vnd.powerx.pxp";

/// A line of output from `build.command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildOutput {
    /// A line on the command's stdout.
    Stdout(String),
    /// A line on the command's stderr.
    Stderr(String),
}

/// Size limits applied while unpacking (SPEC §3.5 `dev.max_bundle_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes all files may hold together once unpacked.
    pub max_total_bytes: u64,
    /// Most bytes one file may hold once unpacked.
    pub max_file_bytes: u64,
    /// Most unpacked bytes per compressed byte read (zip-bomb guard), checked
    /// while streaming once more than [`RATIO_GRACE_BYTES`] are unpacked.
    pub max_ratio: u64,
    /// Most entries in the archive.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_bytes: 256 << 20,
            max_file_bytes: 256 << 20,
            max_ratio: 200,
            max_entries: 100_000,
        }
    }
}

/// What a pack or unpack produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Number of regular files (excluding `.pxp/checksums.json`).
    pub files: u64,
    /// Total bytes of those files.
    pub bytes: u64,
    /// Content digest of the tree: sha256 hex of `.pxp/checksums.json` as packed.
    /// Equal for equal trees, whether computed from `dist/` or from a `.pxp`.
    pub digest: String,
}

/// Runs the manifest's `build.command` in `project_dir` (streaming each output
/// line to `on_output`), then fills a fresh `project_dir/dist/` with
/// `manifest.json` (without `build`) and the files named by `build.files`.
/// Returns the `dist/` path. The new `dist/` is built beside the old one and
/// swapped in at the end, so a failed build leaves the old `dist/` untouched.
///
/// `build.files` maps a dist path (relative, no `..`; `.` is the dist root) to
/// a source inside the project (relative, no `..`): a file is copied to the
/// dist path; a directory is copied recursively below it; a glob (`*` stays
/// within one directory, `**` crosses them) copies each match to the dist path
/// joined with the match's path relative to the glob's leading literal
/// directories (`"static": "web/**/*.js"` puts `web/a/b.js` at
/// `static/a/b.js`). A source matching nothing is an error. Permissions,
/// hence the executable bit, are kept; `dist/` itself is never a source.
///
/// Fails with [`BundleError::CommandFailed`] (carrying the exit status) when
/// `build.command` fails; then no copying is done.
pub fn build_dist(
    project_dir: &Path,
    manifest: &px_manifest::Manifest,
    on_output: &mut dyn FnMut(BuildOutput),
) -> Result<PathBuf, BundleError> {
    dist::build_dist(project_dir, manifest, on_output)
}

/// Packs `dist` into a deterministic `.pxp` written to `out` (format above),
/// streaming each file. Refuses a `dist` without a regular `manifest.json`,
/// with a `.pxp/` directory, a special file, a non-UTF-8 path, or a symlink
/// resolving outside `dist`; fails with [`BundleError::FileChanged`] if a file
/// changes between hashing and packing.
pub fn pack(dist: &Path, out: &mut dyn Write) -> Result<Summary, BundleError> {
    pack::pack(dist, out)
}

/// Computes the same digest `pack` would report, without packing.
pub fn digest_dir(dist: &Path) -> Result<Summary, BundleError> {
    let scanned = scan::scan(dist)?;
    Ok(Summary {
        files: scanned.files,
        bytes: scanned.bytes,
        digest: checksums::digest(&scanned.sums),
    })
}

/// Unpacks a `.pxp` read from `input` into `staging` (which must exist and be
/// empty), refusing hostile content with a typed error; on error nothing is
/// left outside `staging` (the caller removes `staging`).
///
/// The input is streamed (never held in memory) and every limit is checked
/// as bytes arrive. Refused, each with its own [`BundleError`] variant: `..`
/// or absolute paths, symlinks that resolve outside the bundle (also through
/// other symlinks, checked again once all entries are in), entries under a
/// symlinked directory, all hardlinks (whatever their target: `pack` never
/// writes them), devices, FIFOs and other entry types, duplicates,
/// `manifest.json` not first, `.pxp/checksums.json` not second, a checksum
/// mismatch, a file missing from or extra to the checksums, and the limits.
/// Nothing is ever written through a symlink (files are created with
/// `O_EXCL | O_NOFOLLOW` in directories this call made). Modes become 0644 or
/// 0755. `.pxp/checksums.json` is verified but not written, so `staging` ends
/// up holding exactly the packed `dist/` and `digest_dir(staging)` gives the
/// returned digest.
pub fn unpack(
    input: &mut dyn Read,
    staging: &Path,
    limits: &Limits,
) -> Result<Summary, BundleError> {
    unpack::unpack(input, staging, limits)
}
