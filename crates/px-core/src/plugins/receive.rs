//! The `receive` phase: a directory under `dev.allowed_dirs` copied into
//! staging, or an upload streamed into `px_bundle::unpack` (a `.pxp`) or
//! `px_bundle::unpack_package` (a PowerX `package.tar.gz`).

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use px_api::ReasonCode;
use px_bundle::{BundleError, Format};
use tokio::io::AsyncRead;

use super::run::{Failure, FailureKind};

/// Where an install comes from.
pub enum Source {
    /// A `dist/` directory on Core's filesystem.
    Dir(PathBuf),
    /// An uploaded body in the format its content type names, read as it arrives.
    Bundle(Format, Pin<Box<dyn AsyncRead + Send>>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Dir(path) => f.debug_tuple("Dir").field(path).finish(),
            Source::Bundle(format, _) => write!(f, "Bundle({format:?}, ..)"),
        }
    }
}

/// 413 for bundles over the policy limit.
fn too_large(message: impl Into<String>) -> Failure {
    Failure::new(FailureKind::TooLarge, ReasonCode::BundleInvalid, message)
}

/// Copies `dir` into `staging` (which must not exist) and returns the content digest.
/// `dir` must lie under one of `allowed` once both are canonicalized, so
/// neither `..` nor a symlink can reach outside.
pub(crate) fn copy_dir(dir: &Path, allowed: &[PathBuf], staging: &Path) -> Result<String, Failure> {
    if !dir.is_absolute() {
        return Err(Failure::bad_request(format!(
            "source path {} must be absolute",
            dir.display()
        )));
    }
    let real = dir.canonicalize().map_err(|e| {
        Failure::bad_request(format!(
            "cannot read source directory {}: {e}",
            dir.display()
        ))
    })?;
    let inside = allowed
        .iter()
        .filter_map(|root| root.canonicalize().ok())
        .any(|root| real.starts_with(&root));
    if !inside {
        return Err(Failure::bad_request(format!(
            "{} is not under the policy's dev.allowed_dirs",
            dir.display()
        )));
    }
    if !real.is_dir() {
        return Err(Failure::bad_request(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    copy_tree(&real, &real, staging)?;
    px_bundle::digest_dir(staging)
        .map(|summary| summary.digest)
        .map_err(|e| bundle_failure(&e))
}

/// Copies regular files and directories; a symlink is followed only when its
/// target stays inside `root`.
fn copy_tree(root: &Path, from: &Path, to: &Path) -> Result<(), Failure> {
    let io = |path: &Path, e: io::Error| {
        Failure::bad_request(format!("cannot copy {}: {e}", path.display()))
    };
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io(from, e))? {
        let entry = entry.map_err(|e| io(from, e))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let mut meta = std::fs::symlink_metadata(&source).map_err(|e| io(&source, e))?;
        let mut real = source.clone();
        if meta.file_type().is_symlink() {
            real = source.canonicalize().map_err(|e| io(&source, e))?;
            if !real.starts_with(root) {
                return Err(Failure::bad_request(format!(
                    "symlink {} leaves the source directory",
                    source.display()
                )));
            }
            meta = std::fs::metadata(&real).map_err(|e| io(&source, e))?;
        }
        if meta.is_dir() {
            copy_tree(root, &real, &target)?;
        } else if meta.is_file() {
            std::fs::copy(&real, &target).map_err(|e| io(&source, e))?;
        } else {
            return Err(Failure::bad_request(format!(
                "{} is not a regular file or directory",
                source.display()
            )));
        }
    }
    Ok(())
}

/// Streams a `.pxp` or PowerX package body into `staging` (created here),
/// refusing more than `max_bytes` read or unpacked. Returns the content digest.
pub(crate) async fn unpack_body(
    format: Format,
    body: Pin<Box<dyn AsyncRead + Send>>,
    staging: PathBuf,
    max_bytes: u64,
) -> Result<String, Failure> {
    std::fs::create_dir_all(&staging)
        .map_err(|e| Failure::internal(&anyhow::anyhow!("creating staging directory: {e}")))?;
    let over = Arc::new(AtomicBool::new(false));
    let flag = over.clone();
    let result = tokio::task::spawn_blocking(move || {
        let bridge = tokio_util::io::SyncIoBridge::new(body);
        let mut capped = Capped {
            inner: bridge,
            left: max_bytes,
            over: flag,
        };
        let limits = px_bundle::Limits {
            max_total_bytes: max_bytes,
            max_file_bytes: max_bytes,
            ..px_bundle::Limits::default()
        };
        match format {
            Format::Pxp => px_bundle::unpack(&mut capped, &staging, &limits),
            Format::Package => px_bundle::unpack_package(&mut capped, &staging, &limits),
        }
    })
    .await
    .map_err(|e| Failure::internal(&anyhow::anyhow!("unpack task failed: {e}")))?;
    if over.load(Ordering::Relaxed) {
        return Err(too_large(format!(
            "bundle is larger than {max_bytes} bytes"
        )));
    }
    result
        .map(|summary| summary.digest)
        .map_err(|e| bundle_failure(&e))
}

/// A bundle error as a failure: size faults are 413, the rest 422.
fn bundle_failure(error: &BundleError) -> Failure {
    let message = match error {
        BundleError::WrongFormat { found, expected } => format!(
            "the body is {}, not {}: send it with Content-Type: {}",
            found.describe(),
            expected.describe(),
            found.media_type()
        ),
        error => error_chain(error),
    };
    match error {
        BundleError::TotalTooLarge { .. }
        | BundleError::FileTooLarge { .. }
        | BundleError::RatioExceeded { .. }
        | BundleError::TooManyEntries { .. } => too_large(message),
        _ => Failure::bundle(message),
    }
}

/// `error: cause: cause`.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A reader that fails once more than `left` bytes were asked of it.
struct Capped<R> {
    inner: R,
    left: u64,
    over: Arc<AtomicBool>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let n64 = n as u64;
        if n64 > self.left {
            self.over.store(true, Ordering::Relaxed);
            return Err(io::Error::other("bundle over the size limit"));
        }
        self.left -= n64;
        Ok(n)
    }
}
