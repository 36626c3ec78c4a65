//! The one error type of this crate.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Why building, packing or unpacking failed.
///
/// Paths in unpack errors are the entry's path inside the bundle, as written in
/// the archive (lossily decoded when not UTF-8).
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading or writing a file failed.
    #[error("io error at {}", path.display())]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the `.pxp` to its destination failed.
    #[error("cannot write the bundle")]
    Output {
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `build.command` could not be started.
    #[error("cannot start build command `{command}`")]
    Spawn {
        /// The command as written in the manifest.
        command: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `build.command` ran and failed.
    #[error("build command `{command}` failed ({status})")]
    CommandFailed {
        /// The command as written in the manifest.
        command: String,
        /// How it ended.
        status: ExitStatus,
    },
    /// A `build.files` dist path is absolute, contains `..`, or is otherwise unusable.
    #[error("dist path {dist_path:?} must be a relative path without `..`")]
    BadDistPath {
        /// The dist path as written in the manifest.
        dist_path: String,
    },
    /// A `build.files` source resolves outside the project directory.
    #[error("source {source_path:?} lies outside the project directory")]
    SourceOutsideProject {
        /// The source as written in the manifest (or the matched file).
        source_path: String,
    },
    /// A `build.files` source path or glob matches nothing.
    #[error("source {pattern:?} matches no file")]
    NoMatch {
        /// The source as written in the manifest.
        pattern: String,
    },
    /// A `build.files` glob does not parse.
    #[error("invalid glob {pattern:?}")]
    BadGlob {
        /// The glob as written in the manifest.
        pattern: String,
        /// Why it does not parse.
        #[source]
        source: globset::Error,
    },
    /// Two `build.files` entries (or one and `manifest.json`) produce the same dist file.
    #[error("{path:?} is produced twice in dist")]
    DistConflict {
        /// Path inside `dist/`.
        path: String,
    },
    /// A path `plugin.yaml` names (a program, the admin output, the
    /// migrations entry) is not in the project, or is of the wrong kind.
    #[error("{key} {path} {problem}: {hint}")]
    NamedPathMissing {
        /// The `plugin.yaml` key that names it, e.g. `runtime.entry`.
        key: String,
        /// The path looked for, relative to the project.
        path: String,
        /// `does not exist`, `is not a file` or `is not a directory`.
        problem: String,
        /// How to make it, e.g. `build the backend first (go build …)`.
        hint: String,
    },
    /// The directory to pack has no regular `manifest.json` (or `plugin.yaml`) at its root.
    #[error("no manifest.json or plugin.yaml in {}", dir.display())]
    MissingManifest {
        /// Directory being packed.
        dir: PathBuf,
    },
    /// A path in the directory to pack is not valid UTF-8.
    #[error("path {} is not valid utf-8", path.display())]
    NonUtf8Path {
        /// The offending path.
        path: PathBuf,
    },
    /// The directory to pack holds `.pxp/`, which is reserved for bundle metadata.
    #[error("{path:?} is reserved for bundle metadata")]
    ReservedPath {
        /// Path inside the bundle.
        path: String,
    },
    /// The directory to pack holds a socket, FIFO or device file.
    #[error("{path:?} is not a regular file, directory or symlink")]
    SpecialFile {
        /// Path inside the bundle.
        path: String,
    },
    /// A file changed while it was being packed.
    #[error("{path:?} changed while being packed")]
    FileChanged {
        /// Path inside the bundle.
        path: String,
    },
    /// The staging directory does not exist, is not a directory, or is not empty.
    #[error("staging directory {} must exist and be empty", path.display())]
    StagingNotEmpty {
        /// The staging directory.
        path: PathBuf,
    },
    /// An entry path has a `..` component.
    #[error("entry {path:?} has a `..` component")]
    DotDot {
        /// Entry path.
        path: String,
    },
    /// An entry path is absolute.
    #[error("entry {path:?} is absolute")]
    AbsolutePath {
        /// Entry path.
        path: String,
    },
    /// An entry path is empty or not valid UTF-8.
    #[error("entry path {path:?} is empty or not valid utf-8")]
    BadPath {
        /// Entry path, lossily decoded.
        path: String,
    },
    /// A symlink (directly or through other symlinks) points outside the bundle.
    #[error("symlink {path:?} -> {target:?} leaves the bundle")]
    SymlinkEscape {
        /// Symlink path.
        path: String,
        /// Its target as stored.
        target: String,
    },
    /// A symlink chain loops or is too deep to resolve.
    #[error("symlink {path:?} loops or is nested too deeply")]
    SymlinkLoop {
        /// Symlink path.
        path: String,
    },
    /// An entry would be written through a symlinked parent directory.
    #[error("entry {path:?} lies under a symlink")]
    SymlinkParent {
        /// Entry path.
        path: String,
    },
    /// A hardlink entry; bundles never contain hardlinks, so all are refused.
    #[error("entry {path:?} is a hardlink (to {target:?})")]
    HardLink {
        /// Entry path.
        path: String,
        /// Its target as stored.
        target: String,
    },
    /// A character or block device entry.
    #[error("entry {path:?} is a device file")]
    Device {
        /// Entry path.
        path: String,
    },
    /// A FIFO entry.
    #[error("entry {path:?} is a fifo")]
    Fifo {
        /// Entry path.
        path: String,
    },
    /// An entry of a type bundles never hold (sparse, continuous, global header, …).
    #[error("entry {path:?} has unsupported type {kind:?}")]
    UnsupportedEntry {
        /// Entry path.
        path: String,
        /// The tar type flag.
        kind: char,
    },
    /// An entry repeats an earlier path, or lies under an earlier non-directory.
    #[error("entry {path:?} collides with an earlier entry")]
    Duplicate {
        /// Entry path.
        path: String,
    },
    /// The first entry is not the regular file `manifest.json` (or `plugin.yaml`).
    #[error("manifest.json (or plugin.yaml) is not the first entry")]
    ManifestNotFirst,
    /// The second entry is not `.pxp/checksums.json`.
    #[error(".pxp/checksums.json is missing (it must be the second entry)")]
    MissingChecksums,
    /// `.pxp/checksums.json` is not a JSON object of strings.
    #[error(".pxp/checksums.json is invalid: {reason}")]
    BadChecksums {
        /// What is wrong with it.
        reason: String,
    },
    /// A file's content (or a symlink's target) does not match `.pxp/checksums.json`.
    #[error("checksum mismatch for {path:?}")]
    ChecksumMismatch {
        /// Entry path.
        path: String,
    },
    /// A file or symlink in the bundle is not listed in `.pxp/checksums.json`.
    #[error("entry {path:?} is not listed in .pxp/checksums.json")]
    ExtraFile {
        /// Entry path.
        path: String,
    },
    /// A path listed in `.pxp/checksums.json` is not in the bundle.
    #[error("{path:?} is listed in .pxp/checksums.json but missing from the bundle")]
    MissingFile {
        /// Listed path.
        path: String,
    },
    /// The bundle has more entries than `Limits::max_entries`.
    #[error("bundle has more than {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: u64,
    },
    /// The bundle unpacks to more than `Limits::max_total_bytes`.
    #[error("bundle unpacks to more than {limit} bytes")]
    TotalTooLarge {
        /// The limit.
        limit: u64,
    },
    /// One file is larger than `Limits::max_file_bytes`.
    #[error("entry {path:?} is larger than {limit} bytes")]
    FileTooLarge {
        /// Entry path.
        path: String,
        /// The limit.
        limit: u64,
    },
    /// Unpacked bytes per compressed byte exceed `Limits::max_ratio`.
    #[error("compression ratio exceeds {limit}:1")]
    RatioExceeded {
        /// The limit.
        limit: u64,
    },
    /// The input ends before the bundle does.
    #[error("bundle is truncated")]
    Truncated,
    /// The input is not a zstd-compressed tar, or is corrupt.
    #[error("bundle is not a valid zstd-compressed tar")]
    Malformed {
        /// What the decoder said.
        #[source]
        source: std::io::Error,
    },
    /// A PowerX package is not a gzip-compressed tar, or is corrupt.
    #[error("package is not a valid gzip-compressed tar")]
    MalformedPackage {
        /// What the decoder said.
        #[source]
        source: std::io::Error,
    },
    /// The input is the other archive format (told by its first bytes).
    #[error(
        "this is {} (media type {}), not {}",
        found.describe(),
        found.media_type(),
        expected.describe()
    )]
    WrongFormat {
        /// What the input is.
        found: crate::Format,
        /// What it was given as.
        expected: crate::Format,
    },
    /// A PowerX package whose first entry is under `payload/` has an entry outside it.
    #[error("entry {path:?} lies outside payload/ (the package's top folder)")]
    OutsidePayload {
        /// Entry path.
        path: String,
    },
    /// A PowerX package holds no regular `plugin.yaml` at its root (or in `payload/`).
    #[error("package has no plugin.yaml in payload/ (or at its root)")]
    MissingPluginYaml,
}

impl BundleError {
    /// Wraps an I/O error with the path it happened at.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BundleError {
        let path = path.into();
        move |source| BundleError::Io { path, source }
    }
}
