//! Streaming, defensive unpacking of a `.pxp` into an empty staging directory,
//! and the [`Writer`] the PowerX package reader (`package.rs`) shares.
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
use px_manifest::{MANIFEST_FILE, PLUGIN_YAML_FILE};
use sha2::{Digest, Sha256};

use crate::checksums::{self, Checksums};
use crate::meter::{CountIn, Guard, Meter};
use crate::paths::{PathFault, is_reserved, normalize};
use crate::tree::{Fault, Node, ParentFault, Tree};
use crate::{BundleError, CHECKSUMS_PATH, Format, Limits, Summary};

/// Largest zstd window accepted (16 MiB), bounding decoder memory.
const WINDOW_LOG_MAX: u32 = 24;

pub(crate) fn unpack(
    input: &mut dyn Read,
    staging: &Path,
    limits: &Limits,
) -> Result<Summary, BundleError> {
    check_staging(staging)?;
    let mut input = expect_format(input, Format::Pxp)?;
    let meter = Meter::new(limits, Format::Pxp);
    let malformed = |source| BundleError::Malformed { source };
    let mut decoder = zstd::stream::read::Decoder::new(CountIn::new(&mut input, meter.clone()))
        .map_err(malformed)?;
    decoder.window_log_max(WINDOW_LOG_MAX).map_err(malformed)?;
    let mut unpacker = Unpacker::new(Writer::new(staging, limits, meter.clone()));
    each_entry(decoder, &meter, |entry| unpacker.entry(entry))?;
    unpacker.finish()
}

/// `input` with its first bytes read back in front, refusing the other
/// format by its magic bytes (so a gzip tar sent as a `.pxp` says so).
pub(crate) fn expect_format(
    input: &mut dyn Read,
    expected: Format,
) -> Result<impl Read + '_, BundleError> {
    let mut prefix = [0u8; 4];
    let mut len = 0;
    while len < prefix.len() {
        match input.read(&mut prefix[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(BundleError::Malformed { source }),
        }
    }
    match Format::sniff(&prefix[..len]) {
        Some(found) if found != expected => Err(BundleError::WrongFormat { found, expected }),
        _ => Ok(io::Cursor::new(prefix[..len].to_vec()).chain(input)),
    }
}

/// Feeds every tar entry of the decompressed stream to `on_entry`, with the
/// meter's limits over the whole stream, then reads to its end: detects
/// truncation after the last entry and keeps the limits on anything hidden
/// after the archive.
pub(crate) fn each_entry<D: Read>(
    decoder: D,
    meter: &Rc<Meter>,
    mut on_entry: impl FnMut(&mut tar::Entry<'_, Guard<D>>) -> Result<(), BundleError>,
) -> Result<(), BundleError> {
    let mut archive = tar::Archive::new(Guard::new(decoder, meter.clone()));
    for entry in archive.entries().map_err(|err| meter.classify(err))? {
        let mut entry = entry.map_err(|err| meter.classify(err))?;
        on_entry(&mut entry)?;
    }
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(|err| meter.classify(err))?;
    Ok(())
}

pub(crate) fn check_staging(staging: &Path) -> Result<(), BundleError> {
    let not_empty = || BundleError::StagingNotEmpty {
        path: staging.to_path_buf(),
    };
    let mut listing = fs::read_dir(staging).map_err(|_| not_empty())?;
    match listing.next() {
        None => Ok(()),
        Some(_) => Err(not_empty()),
    }
}

/// The normalized path of an entry, or the refusal of its raw path.
pub(crate) fn entry_path(raw: &[u8], shown: &str) -> Result<String, BundleError> {
    normalize(raw).map_err(|fault| match fault {
        PathFault::DotDot => BundleError::DotDot {
            path: shown.to_owned(),
        },
        PathFault::Absolute => BundleError::AbsolutePath {
            path: shown.to_owned(),
        },
        PathFault::Bad => BundleError::BadPath {
            path: shown.to_owned(),
        },
    })
}

/// The `.pxp` rules over a [`Writer`]: descriptor first, checksums second,
/// every file and symlink listed and matching.
struct Unpacker<'a> {
    out: Writer<'a>,
    /// Parsed `.pxp/checksums.json`, once read.
    expected: Option<Checksums>,
    /// Paths verified against `expected` (or waiting for it, with their value).
    seen: HashSet<String>,
    pending: Vec<(String, String)>,
}

impl<'a> Unpacker<'a> {
    fn new(out: Writer<'a>) -> Self {
        Unpacker {
            out,
            expected: None,
            seen: HashSet::new(),
            pending: Vec::new(),
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), BundleError> {
        self.out.count()?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let path = entry_path(&raw, &shown)?;
        let kind = entry.header().entry_type();
        match self.out.entries {
            1 if kind.is_file() && is_descriptor(&path) => {}
            1 => return Err(BundleError::ManifestNotFirst),
            2 if kind.is_file() && path == CHECKSUMS_PATH => return self.read_checksums(entry),
            2 => return Err(BundleError::MissingChecksums),
            _ if is_reserved(&path) => return Err(BundleError::ExtraFile { path }),
            _ => {}
        }
        if kind.is_file() || kind.is_symlink() {
            self.check_listed(&path)?;
        }
        match self.out.put(&path, &shown, entry)? {
            Some(value) => self.record(path, value),
            None => Ok(()),
        }
    }

    fn read_checksums<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), BundleError> {
        let bytes = self.out.read_small(CHECKSUMS_PATH, entry)?;
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

    fn finish(self) -> Result<Summary, BundleError> {
        match self.out.entries {
            0 => return Err(BundleError::ManifestNotFirst),
            1 => return Err(BundleError::MissingChecksums),
            _ => {}
        }
        self.out.check_symlinks()?;
        let expected = self
            .expected
            .expect("checksums are read at the second entry");
        if let Some(path) = expected.keys().find(|path| !self.seen.contains(*path)) {
            return Err(BundleError::MissingFile { path: path.clone() });
        }
        Ok(Summary {
            files: self.out.files,
            bytes: self.out.bytes,
            digest: checksums::digest(&expected),
        })
    }
}

/// Whether `path` may be a bundle's first entry.
fn is_descriptor(path: &str) -> bool {
    path == MANIFEST_FILE || path == PLUGIN_YAML_FILE
}

/// Writes entries into `staging` with every guarantee that does not depend
/// on the archive format: limits, entry types, no path through a symlink.
pub(crate) struct Writer<'a> {
    staging: &'a Path,
    limits: &'a Limits,
    meter: Rc<Meter>,
    tree: Tree,
    /// Entries seen so far (counted by [`Writer::count`]).
    pub(crate) entries: u64,
    /// Regular files written and their bytes.
    pub(crate) files: u64,
    pub(crate) bytes: u64,
    buf: Vec<u8>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(staging: &'a Path, limits: &'a Limits, meter: Rc<Meter>) -> Self {
        Writer {
            staging,
            limits,
            meter,
            tree: Tree::default(),
            entries: 0,
            files: 0,
            bytes: 0,
            buf: vec![0; 256 * 1024],
        }
    }

    /// Counts one more entry against `max_entries`.
    pub(crate) fn count(&mut self) -> Result<(), BundleError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(BundleError::TooManyEntries {
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    /// What the tree holds at `path`.
    pub(crate) fn node(&self, path: &str) -> Option<&Node> {
        self.tree.get(path)
    }

    /// Writes the entry at `path` (normalized; `shown` is its raw path for
    /// errors): a file (returns its sha256 hex), a directory (`None`) or a
    /// symlink (returns its checksum value); refuses every other type.
    pub(crate) fn put<R: Read>(
        &mut self,
        path: &str,
        shown: &str,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<Option<String>, BundleError> {
        let kind = entry.header().entry_type();
        if kind.is_file() {
            self.write_file(path, entry).map(Some)
        } else if kind.is_dir() {
            self.make_dir(path).map(|()| None)
        } else if kind.is_symlink() {
            let target = link_target(entry, shown)?;
            self.make_symlink(path, &target)?;
            Ok(Some(checksums::symlink_value(&target)))
        } else if kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned());
            Err(BundleError::HardLink {
                path: shown.to_owned(),
                target: target.unwrap_or_default(),
            })
        } else if kind.is_character_special() || kind.is_block_special() {
            Err(BundleError::Device {
                path: shown.to_owned(),
            })
        } else if kind.is_fifo() {
            Err(BundleError::Fifo {
                path: shown.to_owned(),
            })
        } else {
            Err(BundleError::UnsupportedEntry {
                path: shown.to_owned(),
                kind: char::from(kind.as_byte()),
            })
        }
    }

    /// Reads a small entry (under `max_file_bytes`) into memory.
    pub(crate) fn read_small<R: Read>(
        &mut self,
        path: &str,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<Vec<u8>, BundleError> {
        let size = entry.size();
        if size > self.limits.max_file_bytes {
            return Err(BundleError::FileTooLarge {
                path: path.to_owned(),
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
        Ok(bytes)
    }

    /// Checks every symlink again now that all entries are in.
    pub(crate) fn check_symlinks(&self) -> Result<(), BundleError> {
        self.tree
            .check_all_symlinks()
            .map_err(|(path, target, fault)| symlink_error(path, target, fault))
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
