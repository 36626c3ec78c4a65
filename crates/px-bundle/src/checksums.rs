//! `.pxp/checksums.json`: one entry per regular file (`"path": "<sha256 hex>"`)
//! and per symlink (`"path": "symlink:<target>"`), keys sorted, pretty-printed
//! with a trailing newline. The bundle digest is the sha256 of these bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::BundleError;

/// Path in the bundle → sha256 hex of a file, or `symlink:<target>`.
pub(crate) type Checksums = BTreeMap<String, String>;

/// The checksum value recorded for a symlink.
pub(crate) fn symlink_value(target: &str) -> String {
    format!("symlink:{target}")
}

/// The canonical bytes of `.pxp/checksums.json`.
pub(crate) fn encode(sums: &Checksums) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(sums).expect("a map of strings always serializes");
    bytes.push(b'\n');
    bytes
}

/// Parses `.pxp/checksums.json`.
pub(crate) fn decode(bytes: &[u8]) -> Result<Checksums, BundleError> {
    serde_json::from_slice(bytes).map_err(|err| BundleError::BadChecksums {
        reason: err.to_string(),
    })
}

/// The bundle digest: sha256 hex of the canonical checksum file.
pub(crate) fn digest(sums: &Checksums) -> String {
    hex::encode(Sha256::digest(encode(sums)))
}

/// sha256 hex and length of a file, read in a streaming way.
pub(crate) fn hash_file(path: &Path) -> Result<(String, u64), BundleError> {
    let mut file = File::open(path).map_err(BundleError::io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut len = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(BundleError::io(path)(err)),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), len))
}

/// A reader that hashes what passes through it and fails if the inner reader
/// ends before `expected` bytes (a file shrank while being packed).
#[derive(Debug)]
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    remaining: u64,
    /// Set when the inner reader ended early.
    pub(crate) short: bool,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R, expected: u64) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            remaining: expected,
            short: false,
        }
    }

    /// The wrapped reader.
    pub(crate) fn inner(&self) -> &R {
        &self.inner
    }

    /// sha256 hex of the bytes read.
    pub(crate) fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            self.short = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being packed",
            ));
        }
        self.hasher.update(&buf[..n]);
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_sorted_and_round_trips() {
        let mut sums = Checksums::new();
        sums.insert("z".into(), "00".into());
        sums.insert("a/b".into(), symlink_value("../z"));
        let bytes = encode(&sums);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.find("\"a/b\"").unwrap() < text.find("\"z\"").unwrap());
        assert!(text.ends_with("}\n"));
        assert_eq!(decode(&bytes).unwrap(), sums);
        assert_eq!(digest(&sums), hex::encode(Sha256::digest(&bytes)));
    }

    #[test]
    fn decode_rejects_non_objects() {
        assert!(matches!(
            decode(b"[1]"),
            Err(BundleError::BadChecksums { .. })
        ));
        assert!(matches!(
            decode(b"{\"a\": 1}"),
            Err(BundleError::BadChecksums { .. })
        ));
    }

    #[test]
    fn hashing_reader_detects_short_input() {
        let mut reader = HashingReader::new(&b"abc"[..], 5);
        let mut out = Vec::new();
        assert!(io::copy(&mut reader, &mut out).is_err());
        assert!(reader.short);
        let mut reader = HashingReader::new(&b"abcdef"[..], 3);
        io::copy(&mut reader, &mut out).unwrap();
        assert_eq!(reader.finish(), hex::encode(Sha256::digest(b"abc")));
    }
}
