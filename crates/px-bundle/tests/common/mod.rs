//! Building hostile `.pxp` files entry by entry with `tar`'s low-level
//! header API, and unpacking them in a sandbox that detects escapes.

#![allow(dead_code, reason = "each test file uses part of these helpers")]

use std::collections::BTreeMap;
use std::path::PathBuf;

use px_bundle::{BundleError, Limits, Summary, unpack};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

pub const MANIFEST: &[u8] = br#"{"manifest_version":1}"#;

pub fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A header with exactly the bytes given: no path checks at all.
pub fn raw_header(path: &[u8], kind: EntryType, size: u64, link: &[u8]) -> Header {
    let mut header = Header::new_gnu();
    let old = header.as_old_mut();
    old.name[..path.len()].copy_from_slice(path);
    old.linkname[..link.len()].copy_from_slice(link);
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(size);
    header.set_mtime(0);
    header.set_cksum();
    header
}

/// A bundle under construction: `manifest.json` first, `.pxp/checksums.json`
/// second (listing what the builder methods say), then the entries in order.
pub struct Evil {
    pub manifest_first: bool,
    pub checksums: Option<BTreeMap<String, String>>,
    pub entries: Vec<(Header, Vec<u8>)>,
}

impl Evil {
    pub fn new() -> Self {
        let mut sums = BTreeMap::new();
        sums.insert("manifest.json".to_owned(), sha(MANIFEST));
        Evil {
            manifest_first: true,
            checksums: Some(sums),
            entries: Vec::new(),
        }
    }

    pub fn list(mut self, path: &str, value: String) -> Self {
        self.checksums
            .as_mut()
            .expect("checksums are on")
            .insert(path.to_owned(), value);
        self
    }

    pub fn raw(mut self, header: Header, data: &[u8]) -> Self {
        self.entries.push((header, data.to_vec()));
        self
    }

    /// A regular file, listed with its real checksum.
    pub fn file(self, path: &str, data: &[u8]) -> Self {
        self.list(path, sha(data)).raw(
            raw_header(path.as_bytes(), EntryType::Regular, data.len() as u64, b""),
            data,
        )
    }

    /// A regular file that checksums.json does not list.
    pub fn unlisted(self, path: &str, data: &[u8]) -> Self {
        self.raw(
            raw_header(path.as_bytes(), EntryType::Regular, data.len() as u64, b""),
            data,
        )
    }

    /// A symlink, listed.
    pub fn symlink(self, path: &str, target: &str) -> Self {
        let header = raw_header(path.as_bytes(), EntryType::Symlink, 0, target.as_bytes());
        self.list(path, format!("symlink:{target}"))
            .raw(header, b"")
    }

    /// An entry of another type, listed as if it were a file.
    pub fn special(self, path: &str, kind: EntryType, link: &str) -> Self {
        self.list(path, sha(b""))
            .raw(raw_header(path.as_bytes(), kind, 0, link.as_bytes()), b"")
    }

    pub fn tar(self) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let manifest = raw_header(
            b"manifest.json",
            EntryType::Regular,
            MANIFEST.len() as u64,
            b"",
        );
        if self.manifest_first {
            tar.append(&manifest, MANIFEST).unwrap();
        }
        if let Some(sums) = &self.checksums {
            let bytes = serde_json::to_vec(sums).unwrap();
            let header = raw_header(
                b".pxp/checksums.json",
                EntryType::Regular,
                bytes.len() as u64,
                b"",
            );
            tar.append(&header, bytes.as_slice()).unwrap();
        }
        for (header, data) in &self.entries {
            tar.append(header, data.as_slice()).unwrap();
        }
        if !self.manifest_first {
            tar.append(&manifest, MANIFEST).unwrap();
        }
        tar.into_inner().unwrap()
    }

    pub fn bundle(self) -> Vec<u8> {
        zstd::encode_all(self.tar().as_slice(), 3).unwrap()
    }
}

/// A sandbox holding an empty `staging/` and nothing else.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("staging")).unwrap();
        Sandbox { dir }
    }

    pub fn staging(&self) -> PathBuf {
        self.dir.path().join("staging")
    }

    pub fn unpack(&self, bundle: &[u8], limits: &Limits) -> Result<Summary, BundleError> {
        unpack(&mut &bundle[..], &self.staging(), limits)
    }

    /// Asserts nothing but `staging/` exists in the sandbox.
    pub fn assert_contained(&self) {
        let names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("staging")],
            "something was written outside staging"
        );
    }
}

/// Unpacks with default limits, checks containment, returns the error.
pub fn refuse(bundle: &[u8]) -> BundleError {
    refuse_with(bundle, &Limits::default())
}

pub fn refuse_with(bundle: &[u8], limits: &Limits) -> BundleError {
    let sandbox = Sandbox::new();
    let result = sandbox.unpack(bundle, limits);
    sandbox.assert_contained();
    result.expect_err("hostile bundle was accepted")
}
