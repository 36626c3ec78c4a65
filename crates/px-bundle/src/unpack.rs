//! Streaming, defensive unpacking of a `.pxp` into an empty staging directory.
//!
//! Nothing is ever written through a symlink: every path is checked against an
//! in-memory model of what this unpack created ([`Tree`]), parents must be
//! directories this unpack made, and files are created with `O_EXCL |
//! O_NOFOLLOW`. Hardlinks are refused outright (`pack` never writes them).
//! `.pxp/checksums.json` is verified but not written to `staging`, so the
//! staged tree is exactly the packed `dist/`.

use std::collections::HashSet;
use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::rc::Rc;

use nix::fcntl::OFlag;
use px_manifest::MANIFEST_FILE;
use sha2::{Digest, Sha256};

use crate::checksums::{self, Checksums};
use crate::meter::{CountIn, Guard, Meter};
use crate::paths::{PathFault, is_reserved, normalize};
use crate::tree::{Fault, Node, ParentFault, Tree};
use crate::{BundleError, CHECKSUMS_PATH, Limits, Summary};

/// Largest zstd window accepted (16 MiB), bounding decoder memory.
const WINDOW_LOG_MAX: u32 = 24;

pub(crate) fn unpack(
    input: &mut dyn Read,
    staging: &Path,
    limits: &Limits,
) -> Result<Summary, BundleError> {
    check_staging(staging)?;
    let meter = Meter::new(limits);
    let malformed = |source| BundleError::Malformed { source };
    let mut decoder =
        zstd::stream::read::Decoder::new(CountIn::new(input, meter.clone())).map_err(malformed)?;
    decoder.window_log_max(WINDOW_LOG_MAX).map_err(malformed)?;
    let mut archive = tar::Archive::new(Guard::new(decoder, meter.clone()));
    let mut unpacker = Unpacker::new(staging, limits, meter.clone());
    for entry in archive.entries().map_err(|err| meter.classify(err))? {
        let mut entry = entry.map_err(|err| meter.classify(err))?;
        unpacker.entry(&mut entry)?;
    }
    // Read to the end of the zstd frame: detects truncation after the last
    // entry and keeps the limits on anything hidden after the archive.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(|err| meter.classify(err))?;
    unpacker.finish()
}

fn check_staging(staging: &Path) -> Result<(), BundleError> {
    let not_empty = || BundleError::StagingNotEmpty {
        path: staging.to_path_buf(),
    };
    let mut listing = fs::read_dir(staging).map_err(|_| not_empty())?;
    match listing.next() {
        None => Ok(()),
        Some(_) => Err(not_empty()),
    }
}

struct Unpacker<'a> {
    staging: &'a Path,
    limits: &'a Limits,
    meter: Rc<Meter>,
    tree: Tree,
    entries: u64,
    files: u64,
    bytes: u64,
    /// Parsed `.pxp/checksums.json`, once read.
    expected: Option<Checksums>,
    /// Paths verified against `expected` (or waiting for it, with their value).
    seen: HashSet<String>,
    pending: Vec<(String, String)>,
    buf: Vec<u8>,
}

impl<'a> Unpacker<'a> {
    fn new(staging: &'a Path, limits: &'a Limits, meter: Rc<Meter>) -> Self {
        Unpacker {
            staging,
            limits,
            meter,
            tree: Tree::default(),
            entries: 0,
            files: 0,
            bytes: 0,
            expected: None,
            seen: HashSet::new(),
            pending: Vec::new(),
            buf: vec![0; 256 * 1024],
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), BundleError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(BundleError::TooManyEntries {
                limit: self.limits.max_entries,
            });
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let path = normalize(&raw).map_err(|fault| match fault {
            PathFault::DotDot => BundleError::DotDot {
                path: shown.clone(),
            },
            PathFault::Absolute => BundleError::AbsolutePath {
                path: shown.clone(),
            },
            PathFault::Bad => BundleError::BadPath {
                path: shown.clone(),
            },
        })?;
        let kind = entry.header().entry_type();
        match self.entries {
            1 if kind.is_file() && path == MANIFEST_FILE => {}
            1 => return Err(BundleError::ManifestNotFirst),
            2 if kind.is_file() && path == CHECKSUMS_PATH => return self.read_checksums(entry),
            2 => return Err(BundleError::MissingChecksums),
            _ if is_reserved(&path) => return Err(BundleError::ExtraFile { path }),
            _ => {}
        }

        if kind.is_file() {
            self.check_listed(&path)?;
            let hash = self.write_file(&path, entry)?;
            self.record(path, hash)
        } else if kind.is_dir() {
            self.make_dir(&path)
        } else if kind.is_symlink() {
            let target = link_target(entry, &shown)?;
            self.check_listed(&path)?;
            self.make_symlink(&path, &target)?;
            self.record(path, checksums::symlink_value(&target))
        } else if kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned());
            Err(BundleError::HardLink {
                path: shown,
                target: target.unwrap_or_default(),
            })
        } else if kind.is_character_special() || kind.is_block_special() {
            Err(BundleError::Device { path: shown })
        } else if kind.is_fifo() {
            Err(BundleError::Fifo { path: shown })
        } else {
            Err(BundleError::UnsupportedEntry {
                path: shown,
                kind: char::from(kind.as_byte()),
            })
        }
    }

    fn read_checksums<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), BundleError> {
        let size = entry.size();
        if size > self.limits.max_file_bytes {
            return Err(BundleError::FileTooLarge {
                path: CHECKSUMS_PATH.to_owned(),
                limit: self.limits.max_file_bytes,
            });
        }
        let mut bytes = Vec::new();
        entry
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(|err| self.meter.classify(err))?;
        if bytes.len() as u64 != size {
            return Err(BundleError::Truncated);
        }
        self.expected = Some(checksums::decode(&bytes)?);
        for (path, hash) in std::mem::take(&mut self.pending) {
            self.check_listed(&path)?;
            self.record(path, hash)?;
        }
        Ok(())
    }

    /// Refuses a file or symlink that `.pxp/checksums.json` does not list.
    fn check_listed(&self, path: &str) -> Result<(), BundleError> {
        match &self.expected {
            Some(expected) if !expected.contains_key(path) => Err(BundleError::ExtraFile {
                path: path.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// Compares a written entry's checksum value with the expected one.
    fn record(&mut self, path: String, value: String) -> Result<(), BundleError> {
        let Some(expected) = &self.expected else {
            self.pending.push((path, value));
            return Ok(());
        };
        match expected.get(&path) {
            None => Err(BundleError::ExtraFile { path }),
            Some(want) if *want != value => Err(BundleError::ChecksumMismatch { path }),
            Some(_) => {
                self.seen.insert(path);
                Ok(())
            }
        }
    }

    /// Makes the missing parent directories of `path`; refuses a parent that
    /// is a symlink or a file, and a `path` that already exists.
    fn prepare(&mut self, path: &str) -> Result<(), BundleError> {
        let missing = self
            .tree
            .missing_parents(path)
            .map_err(|fault| match fault {
                ParentFault::Symlink => BundleError::SymlinkParent {
                    path: path.to_owned(),
                },
                ParentFault::File => BundleError::Duplicate {
                    path: path.to_owned(),
                },
            })?;
        for dir in missing {
            self.create_dir(dir)?;
        }
        if self.tree.get(path).is_some() {
            return Err(BundleError::Duplicate {
                path: path.to_owned(),
            });
        }
        Ok(())
    }

    fn create_dir(&mut self, path: String) -> Result<(), BundleError> {
        let dest = self.staging.join(&path);
        fs::create_dir(&dest).map_err(BundleError::io(dest))?;
        self.tree.insert(path, Node::Dir);
        Ok(())
    }

    fn make_dir(&mut self, path: &str) -> Result<(), BundleError> {
        if self.tree.get(path) == Some(&Node::Dir) {
            return Ok(());
        }
        self.prepare(path)?;
        self.create_dir(path.to_owned())
    }

    fn make_symlink(&mut self, path: &str, target: &str) -> Result<(), BundleError> {
        self.prepare(path)?;
        self.tree
            .check_symlink(path, target)
            .map_err(|fault| symlink_error(path.to_owned(), target.to_owned(), fault))?;
        let dest = self.staging.join(path);
        std::os::unix::fs::symlink(target, &dest).map_err(BundleError::io(dest))?;
        self.tree
            .insert(path.to_owned(), Node::Symlink(target.to_owned()));
        Ok(())
    }

    /// Streams one regular file into `staging`, returning its sha256 hex.
    fn write_file<R: Read>(
        &mut self,
        path: &str,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<String, BundleError> {
        let size = entry.size();
        let max_file = self.limits.max_file_bytes;
        let too_large = || BundleError::FileTooLarge {
            path: path.to_owned(),
            limit: max_file,
        };
        if size > max_file {
            return Err(too_large());
        }
        if self.bytes.saturating_add(size) > self.limits.max_total_bytes {
            return Err(BundleError::TotalTooLarge {
                limit: self.limits.max_total_bytes,
            });
        }
        let exec = entry
            .header()
            .mode()
            .map_err(|source| BundleError::Malformed { source })?
            & 0o111
            != 0;
        self.prepare(path)?;
        let dest = self.staging.join(path);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits())
            .open(&dest)
            .map_err(BundleError::io(&dest))?;
        self.tree.insert(path.to_owned(), Node::File);

        let mut hasher = Sha256::new();
        let mut written = 0u64;
        loop {
            let n = entry
                .read(&mut self.buf)
                .map_err(|err| self.meter.classify(err))?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > size || written > max_file {
                return Err(too_large());
            }
            file.write_all(&self.buf[..n])
                .map_err(BundleError::io(&dest))?;
            hasher.update(&self.buf[..n]);
        }
        if written != size {
            return Err(BundleError::Truncated);
        }
        let mode = if exec { 0o755 } else { 0o644 };
        file.set_permissions(Permissions::from_mode(mode))
            .map_err(BundleError::io(&dest))?;
        self.files += 1;
        self.bytes += written;
        Ok(hex::encode(hasher.finalize()))
    }

    fn finish(self) -> Result<Summary, BundleError> {
        match self.entries {
            0 => return Err(BundleError::ManifestNotFirst),
            1 => return Err(BundleError::MissingChecksums),
            _ => {}
        }
        self.tree
            .check_all_symlinks()
            .map_err(|(path, target, fault)| symlink_error(path, target, fault))?;
        let expected = self
            .expected
            .expect("checksums are read at the second entry");
        if let Some(path) = expected.keys().find(|path| !self.seen.contains(*path)) {
            return Err(BundleError::MissingFile { path: path.clone() });
        }
        Ok(Summary {
            files: self.files,
            bytes: self.bytes,
            digest: checksums::digest(&expected),
        })
    }
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>, shown: &str) -> Result<String, BundleError> {
    let bad = || BundleError::BadPath {
        path: shown.to_owned(),
    };
    let target = entry.link_name_bytes().ok_or_else(bad)?;
    let target = String::from_utf8(target.into_owned()).map_err(|_| bad())?;
    if target.is_empty() {
        return Err(bad());
    }
    Ok(target)
}

fn symlink_error(path: String, target: String, fault: Fault) -> BundleError {
    match fault {
        Fault::Escape => BundleError::SymlinkEscape { path, target },
        Fault::Loop => BundleError::SymlinkLoop { path },
    }
}
