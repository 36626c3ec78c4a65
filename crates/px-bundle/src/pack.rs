//! Packing `dist/` into a deterministic `.pxp`.
//!
//! Layout: the descriptor (`manifest.json`, else `plugin.yaml`), then `.pxp/checksums.json`, then every other
//! entry sorted by path (directories before their contents). Headers are GNU
//! with mtime 0, uid/gid 0, empty owner names, mode 0755 for directories and
//! executables and 0644 for other files. Symlinks are stored as symlinks
//! (only those that resolve inside the bundle; others are refused). Long paths
//! use GNU long-name entries. The tar is compressed as one zstd frame at level
//! [`ZSTD_LEVEL`] with a content checksum.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::checksums::{self, HashingReader};
use crate::scan::{Kind, scan};
use crate::{BundleError, CHECKSUMS_PATH, Summary};

/// zstd level of `.pxp` files: fast, and single-threaded so output never
/// depends on the machine.
pub(crate) const ZSTD_LEVEL: i32 = 3;

type Tar<'a> = tar::Builder<BufWriter<zstd::Encoder<'static, &'a mut dyn Write>>>;

pub(crate) fn pack(dist: &Path, out: &mut dyn Write) -> Result<Summary, BundleError> {
    let scanned = scan(dist)?;
    let sums_bytes = checksums::encode(&scanned.sums);
    let digest = hex::encode(Sha256::digest(&sums_bytes));

    let mut encoder = zstd::Encoder::new(out, ZSTD_LEVEL).map_err(output)?;
    encoder.include_checksum(true).map_err(output)?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, encoder));

    let descriptor = scanned.descriptor;
    let descriptor_exec = scanned
        .items
        .iter()
        .any(|item| item.rel == descriptor && item.kind == Kind::File { exec: true });
    append_file(
        &mut tar,
        dist,
        descriptor,
        descriptor_exec,
        &scanned.sums[descriptor],
    )?;
    let mut header = normalized_header(EntryType::Regular, 0o644, sums_bytes.len() as u64);
    tar.append_data(&mut header, CHECKSUMS_PATH, sums_bytes.as_slice())
        .map_err(output)?;

    for item in scanned.items.iter().filter(|item| item.rel != descriptor) {
        match &item.kind {
            Kind::Dir => {
                let mut header = normalized_header(EntryType::Directory, 0o755, 0);
                tar.append_data(&mut header, format!("{}/", item.rel), io::empty())
                    .map_err(output)?;
            }
            Kind::File { exec } => {
                append_file(&mut tar, dist, &item.rel, *exec, &scanned.sums[&item.rel])?
            }
            Kind::Symlink(target) => {
                let mut header = normalized_header(EntryType::Symlink, 0o777, 0);
                tar.append_link(&mut header, &item.rel, target)
                    .map_err(output)?;
            }
        }
    }

    let buffered = tar.into_inner().map_err(output)?;
    let encoder = buffered
        .into_inner()
        .map_err(|err| output(err.into_error()))?;
    encoder.finish().map_err(output)?.flush().map_err(output)?;
    Ok(Summary {
        files: scanned.files,
        bytes: scanned.bytes,
        digest,
    })
}

/// Appends one regular file, checking it still has the content it was hashed with.
fn append_file(
    tar: &mut Tar<'_>,
    dist: &Path,
    rel: &str,
    exec: bool,
    expected: &str,
) -> Result<(), BundleError> {
    let path = dist.join(rel);
    let file = File::open(&path).map_err(BundleError::io(&path))?;
    let len = file.metadata().map_err(BundleError::io(&path))?.len();
    let mut header = normalized_header(EntryType::Regular, if exec { 0o755 } else { 0o644 }, len);
    let mut reader = HashingReader::new(
        ReadErrors {
            inner: file,
            failed: false,
        },
        len,
    );
    let result = tar.append_data(&mut header, rel, &mut reader);
    if reader.short {
        return Err(BundleError::FileChanged {
            path: rel.to_owned(),
        });
    }
    if let Err(err) = result {
        return Err(if reader.inner().failed {
            BundleError::Io { path, source: err }
        } else {
            output(err)
        });
    }
    if reader.finish() != expected {
        return Err(BundleError::FileChanged {
            path: rel.to_owned(),
        });
    }
    Ok(())
}

/// A normalized header: no times, owners or names, only type, mode and size.
fn normalized_header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn output(source: io::Error) -> BundleError {
    BundleError::Output { source }
}

/// Remembers whether reading the source file failed, to tell input errors
/// from output errors.
#[derive(Debug)]
struct ReadErrors<R> {
    inner: R,
    failed: bool,
}

impl<R: Read> Read for ReadErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed = true)
    }
}
