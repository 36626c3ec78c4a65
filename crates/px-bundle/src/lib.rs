//! Plugin bundles: produce `dist/` from a project (its `build` section, or
//! the paths a `plugin.yaml` names), pack a deterministic `.pxp` (zstd tar,
//! descriptor first, `.pxp/checksums.json`), and unpack one, or a PowerX
//! `package.tar.gz`, safely into a staging directory under size limits.
//!
//! Used by the CLI (build, pack) and by Core (unpack, digests). This crate
//! does not validate manifests beyond loading them through `px-manifest`, and
//! knows nothing about installing or running plugins.
//!
//! # `dist/`
//!
//! [`build_project`] chooses how a project becomes `dist/`:
//! - with a `build` section, [`build_dist`] runs `build.command` and copies
//!   `build.files`;
//! - a `plugin.yaml` project without one (a PowerX plugin as it is) gets the
//!   paths its descriptor names ([`descriptor_files`]);
//! - a `manifest.json` project without one is installed as it is
//!   ([`installs_as_is`]); building it writes only `manifest.json`.
//!
//! `dist/manifest.json` is always the validated model ([`px_manifest::Manifest::to_dist_json`]),
//! so a `plugin.yaml` is read once, on the developer's machine.
//!
//! # The `.pxp` format
//!
//! One zstd frame (level 3, with content checksum) holding a tar stream:
//! 1. the descriptor: `manifest.json`, or `plugin.yaml` for a tree that has
//!    no `manifest.json` (a staged PowerX package);
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
//!
//! # The PowerX package format
//!
//! A gzip tar (`package.tar.gz`, media type [`PACKAGE_MEDIA_TYPE`]) whose top
//! folder `payload/` holds `plugin.yaml` and the built files; the same without
//! the `payload/` prefix is accepted too. [`unpack_package`] strips the prefix
//! and keeps every guarantee and limit of [`unpack`]; it has no checksum file,
//! so its digest is computed from what it wrote (the digest [`digest_dir`]
//! gives for the staged tree).

mod checksums;
mod command;
mod descriptor;
mod dist;
mod error;
mod meter;
mod pack;
mod package;
mod paths;
mod scan;
mod tree;
mod unpack;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub use descriptor::{DescriptorFiles, Named};
pub use error::BundleError;
pub use meter::RATIO_GRACE_BYTES;

/// Path of the checksum file inside a `.pxp`.
pub const CHECKSUMS_PATH: &str = ".pxp/checksums.json";
/// Media type of a `.pxp` upload.
pub const PXP_MEDIA_TYPE: &str = "application/vnd.powerx.pxp";
/// Media type of a PowerX `package.tar.gz` upload (`application/x-gzip` is
/// its older spelling).
pub const PACKAGE_MEDIA_TYPE: &str = "application/gzip";

/// The two archive formats a plugin arrives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A `.pxp`: zstd tar with checksums.
    Pxp,
    /// A PowerX `package.tar.gz`: gzip tar, `payload/plugin.yaml`.
    Package,
}

impl Format {
    /// What the bytes start with, when it is one of the two formats.
    pub fn sniff(prefix: &[u8]) -> Option<Format> {
        if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Format::Pxp)
        } else if prefix.starts_with(&[0x1f, 0x8b]) {
            Some(Format::Package)
        } else {
            None
        }
    }

    /// The media type an upload of this format is sent with.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Pxp => PXP_MEDIA_TYPE,
            Format::Package => PACKAGE_MEDIA_TYPE,
        }
    }

    /// How people call it.
    pub fn describe(self) -> &'static str {
        match self {
            Format::Pxp => "a .pxp (zstd tar)",
            Format::Package => "a PowerX package (gzip tar)",
        }
    }
}

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

/// Builds `project_dir`'s `dist/` the way its descriptor asks (see the crate
/// docs): [`build_dist`] for a `build` section, the paths of
/// [`descriptor_files`] for a `plugin.yaml` without one, else only
/// `manifest.json`. Returns the `dist/` path; a failed build leaves the old
/// `dist/` untouched.
pub fn build_project(
    project_dir: &Path,
    loaded: &px_manifest::Loaded,
    on_output: &mut dyn FnMut(BuildOutput),
) -> Result<PathBuf, BundleError> {
    let manifest = &loaded.manifest;
    if manifest.build.is_none() && from_plugin_yaml(loaded) {
        dist::build_from_descriptor(project_dir, manifest)
    } else {
        dist::build_dist(project_dir, manifest, on_output)
    }
}

/// Whether a project is installed as it is, without a `dist/`: a
/// `manifest.json` project without a `build` section.
pub fn installs_as_is(loaded: &px_manifest::Loaded) -> bool {
    loaded.manifest.build.is_none() && !from_plugin_yaml(loaded)
}

fn from_plugin_yaml(loaded: &px_manifest::Loaded) -> bool {
    loaded
        .path
        .file_name()
        .is_some_and(|name| name == px_manifest::PLUGIN_YAML_FILE)
}

/// The paths a `plugin.yaml` project without `build` puts in `dist/`, each at
/// its own path, from the model and what exists in `project_dir`:
/// - `runtime.entry` (of a process plugin) and `frontend.admin.process.entry`,
///   and the first argument of each, when they are paths (start with `.` or
///   hold a `/`, and are not absolute; `node`, `python3` are commands): the
///   file, or, when the path goes through a `.output` directory (a Nuxt
///   build, `node ./web-admin/.output/server/index.mjs`), that whole
///   directory (`web-admin/.output`);
/// - `frontend.admin.static_dir`: the directory (under `.output` too: the
///   whole output);
/// - `migrations.entry` when it is a path: the file; `migrations.workdir`:
///   a directory created in `dist/` (empty unless something else is there);
/// - `config/` when it exists (PowerX plugins read
///   `POWERX_PLUGIN_CONFIG_DIR=<root>/config`).
///
/// A path named twice or inside a copied directory is copied once. A named
/// path that does not exist (or is a file where a directory is named, or the
/// reverse) is [`BundleError::NamedPathMissing`], naming the key and how to
/// build it; a `..` is [`BundleError::SourceOutsideProject`].
pub fn descriptor_files(
    project_dir: &Path,
    manifest: &px_manifest::Manifest,
) -> Result<DescriptorFiles, BundleError> {
    descriptor::descriptor_files(project_dir, manifest)
}

/// Packs `dist` into a deterministic `.pxp` written to `out` (format above),
/// streaming each file. Refuses a `dist` without a regular `manifest.json`
/// or `plugin.yaml`,
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
/// a first entry that is not `manifest.json` or `plugin.yaml`, `.pxp/checksums.json` not second, a checksum
/// mismatch, a file missing from or extra to the checksums, and the limits.
/// Input that is a gzip tar is [`BundleError::WrongFormat`] (it is a PowerX
/// package: [`unpack_package`] reads it).
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

/// Unpacks a PowerX `package.tar.gz` read from `input` into `staging` (which
/// must exist and be empty), with the guarantees and limits of [`unpack`]:
/// streamed, and refusing `..` or absolute paths, symlinks that leave the
/// bundle or lie under a symlinked directory, hardlinks, devices, FIFOs and
/// other entry types, duplicates, too many entries, a file or the total over
/// the limits, and a compression-ratio bomb.
///
/// When the first entry (after a `.` directory) is `payload/` or under it,
/// every entry must be, and the prefix is stripped; otherwise entries are
/// taken as they are. The staged tree must then hold a regular `plugin.yaml`
/// at its root ([`BundleError::MissingPluginYaml`]). There is no checksum
/// file: the returned digest is that of the staged tree, as [`digest_dir`]
/// computes it. Input that is zstd is [`BundleError::WrongFormat`].
pub fn unpack_package(
    input: &mut dyn Read,
    staging: &Path,
    limits: &Limits,
) -> Result<Summary, BundleError> {
    package::unpack(input, staging, limits)
}
