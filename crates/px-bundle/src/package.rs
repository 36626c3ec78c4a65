//! Streaming, defensive unpacking of a PowerX `package.tar.gz` into an empty
//! staging directory: the `.pxp` [`Writer`] (limits, entry types, symlinks)
//! under a gzip decoder, with the `payload/` prefix stripped.

use std::io::Read;
use std::path::Path;

use px_manifest::PLUGIN_YAML_FILE;

use crate::checksums::{self, Checksums};
use crate::meter::{CountIn, Meter};
use crate::paths::is_reserved;
use crate::scan::canonical_target;
use crate::tree::Node;
use crate::unpack::{Writer, check_staging, each_entry, entry_path, expect_format};
use crate::{BundleError, Format, Limits, Summary};

/// The top folder of a PowerX package.
const PAYLOAD: &str = "payload";

pub(crate) fn unpack(
    input: &mut dyn Read,
    staging: &Path,
    limits: &Limits,
) -> Result<Summary, BundleError> {
    check_staging(staging)?;
    let mut input = expect_format(input, Format::Package)?;
    let meter = Meter::new(limits, Format::Package);
    let decoder = flate2::read::MultiGzDecoder::new(CountIn::new(&mut input, meter.clone()));
    let mut package = Package {
        out: Writer::new(staging, limits, meter.clone()),
        prefixed: None,
        sums: Checksums::new(),
    };
    each_entry(decoder, &meter, |entry| package.entry(entry))?;
    package.finish()
}

struct Package<'a> {
    out: Writer<'a>,
    /// Whether entries lie under `payload/`, decided by the first one.
    prefixed: Option<bool>,
    /// Checksum values of what was written, for the digest.
    sums: Checksums,
}

impl Package<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), BundleError> {
        self.out.count()?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let is_dir = entry.header().entry_type().is_dir();
        if is_dir && is_root(&raw) {
            return Ok(());
        }
        let full = entry_path(&raw, &shown)?;
        let prefixed = *self.prefixed.get_or_insert_with(|| {
            full.strip_prefix(PAYLOAD)
                .is_some_and(|rest| rest.starts_with('/') || (rest.is_empty() && is_dir))
        });
        let path = if !prefixed {
            full
        } else if full == PAYLOAD && is_dir {
            return Ok(());
        } else {
            match full.strip_prefix("payload/") {
                Some(rest) => rest.to_owned(),
                None => return Err(BundleError::OutsidePayload { path: shown }),
            }
        };
        if is_reserved(&path) {
            return Err(BundleError::ReservedPath { path });
        }
        if let Some(value) = self.out.put(&path, &shown, entry)? {
            let value = match value.strip_prefix("symlink:") {
                // as `digest_dir` records it, so the two digests agree
                Some(target) => checksums::symlink_value(&canonical_target(target)),
                None => value,
            };
            self.sums.insert(path, value);
        }
        Ok(())
    }

    fn finish(self) -> Result<Summary, BundleError> {
        self.out.check_symlinks()?;
        if self.out.node(PLUGIN_YAML_FILE) != Some(&Node::File) {
            return Err(BundleError::MissingPluginYaml);
        }
        Ok(Summary {
            files: self.out.files,
            bytes: self.out.bytes,
            digest: checksums::digest(&self.sums),
        })
    }
}

/// Whether a raw path names the archive's root (`.`, `./`).
fn is_root(raw: &[u8]) -> bool {
    !raw.is_empty() && raw.split(|b| *b == b'/').all(|c| c.is_empty() || c == b".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_entries_are_recognized() {
        assert!(is_root(b"."));
        assert!(is_root(b"./"));
        assert!(!is_root(b""));
        assert!(!is_root(b"./a"));
        assert!(!is_root(b".."));
    }
}
