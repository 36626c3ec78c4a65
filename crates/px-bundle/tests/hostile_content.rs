//! Hostile bundle content (checksums, order, sizes, bombs, broken streams)
//! must each be refused with the right error and write nothing outside the
//! staging directory.

mod common;

use std::io::{self, Read};

use common::*;
use px_bundle::{BundleError, Limits, unpack};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

#[test]
fn checksum_mismatches_are_refused() {
    let header = raw_header(b"a", EntryType::Regular, 1, b"");
    let err = refuse(&Evil::new().list("a", sha(b"x")).raw(header, b"y").bundle());
    assert!(
        matches!(err, BundleError::ChecksumMismatch { ref path } if path == "a"),
        "{err:?}"
    );
    // manifest.json comes before the checksums and is verified afterwards.
    let err = refuse(&Evil::new().list("manifest.json", sha(b"other")).bundle());
    assert!(
        matches!(err, BundleError::ChecksumMismatch { ref path } if path == "manifest.json"),
        "{err:?}"
    );
    // A symlink whose target differs from the listed one.
    let header = raw_header(b"l", EntryType::Symlink, 0, b"a");
    let err = refuse(
        &Evil::new()
            .file("a", b"a")
            .list("l", "symlink:b".into())
            .raw(header, b"")
            .bundle(),
    );
    assert!(
        matches!(err, BundleError::ChecksumMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn missing_checksums_are_refused() {
    let mut evil = Evil::new().unlisted("a", b"x");
    evil.checksums = None;
    assert!(matches!(
        refuse(&evil.bundle()),
        BundleError::MissingChecksums
    ));
    let mut evil = Evil::new();
    evil.checksums = None;
    assert!(matches!(
        refuse(&evil.bundle()),
        BundleError::MissingChecksums
    ));
    let err = refuse(
        &Evil::new()
            .raw(
                raw_header(b".pxp/checksums.json", EntryType::Regular, 2, b""),
                b"[]",
            )
            .bundle(),
    );
    assert!(
        matches!(err, BundleError::ExtraFile { .. }),
        "a second checksums file is extra: {err:?}"
    );
}

#[test]
fn unparsable_checksums_are_refused() {
    let mut tar = tar::Builder::new(Vec::new());
    tar.append(
        &raw_header(b"manifest.json", EntryType::Regular, 2, b""),
        &b"{}"[..],
    )
    .unwrap();
    tar.append(
        &raw_header(b".pxp/checksums.json", EntryType::Regular, 3, b""),
        &b"[1]"[..],
    )
    .unwrap();
    let bundle = zstd::encode_all(tar.into_inner().unwrap().as_slice(), 3).unwrap();
    assert!(matches!(refuse(&bundle), BundleError::BadChecksums { .. }));
}

#[test]
fn extra_and_missing_files_are_refused() {
    let err = refuse(&Evil::new().file("a", b"a").unlisted("b", b"b").bundle());
    assert!(
        matches!(err, BundleError::ExtraFile { ref path } if path == "b"),
        "{err:?}"
    );
    let err = refuse(
        &Evil::new()
            .file("a", b"a")
            .unlisted(".pxp/other", b"b")
            .bundle(),
    );
    assert!(
        matches!(err, BundleError::ExtraFile { ref path } if path == ".pxp/other"),
        "{err:?}"
    );
    let err = refuse(&Evil::new().file("a", b"a").list("b", sha(b"b")).bundle());
    assert!(
        matches!(err, BundleError::MissingFile { ref path } if path == "b"),
        "{err:?}"
    );
}

#[test]
fn manifest_not_first_is_refused() {
    let mut evil = Evil::new().file("a", b"a");
    evil.manifest_first = false;
    assert!(matches!(
        refuse(&evil.bundle()),
        BundleError::ManifestNotFirst
    ));
    let empty_tar = zstd::encode_all(&[0u8; 1024][..], 3).unwrap();
    assert!(matches!(refuse(&empty_tar), BundleError::ManifestNotFirst));
}

#[test]
fn too_many_entries_are_refused() {
    let limits = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    let ok = Evil::new().file("a", b"a").bundle();
    Sandbox::new().unpack(&ok, &limits).unwrap();
    let err = refuse_with(
        &Evil::new().file("a", b"a").file("b", b"b").bundle(),
        &limits,
    );
    assert!(
        matches!(err, BundleError::TooManyEntries { limit: 3 }),
        "{err:?}"
    );
}

#[test]
fn a_file_over_the_size_limit_is_refused() {
    let limits = Limits {
        max_file_bytes: 1000,
        ..Limits::default()
    };
    let err = refuse_with(&Evil::new().file("big", &[7; 1001]).bundle(), &limits);
    assert!(
        matches!(err, BundleError::FileTooLarge { ref path, limit: 1000 } if path == "big"),
        "{err:?}"
    );
    Sandbox::new()
        .unpack(&Evil::new().file("big", &[7; 1000]).bundle(), &limits)
        .unwrap();
}

#[test]
fn a_pax_size_larger_than_the_header_size_is_refused() {
    // The ustar header says 10 bytes, the PAX record (which wins) says 2000.
    let mut pax = tar::Builder::new(Vec::new());
    pax.append_pax_extensions([("size", &b"2000"[..])]).unwrap();
    let mut evil = Evil::new().list("big", sha(&[1; 2000]));
    let pax_bytes = pax.into_inner().unwrap();
    let pax_header = Header::from_byte_slice(&pax_bytes[..512]).clone();
    evil = evil.raw(
        pax_header,
        &pax_bytes[512..512 + pax_bytes[512..].iter().position(|b| *b == 0).unwrap()],
    );
    let evil = evil.raw(raw_header(b"big", EntryType::Regular, 10, b""), &[1; 2000]);
    let limits = Limits {
        max_file_bytes: 1000,
        ..Limits::default()
    };
    let err = refuse_with(&evil.bundle(), &limits);
    assert!(
        matches!(err, BundleError::FileTooLarge { ref path, .. } if path == "big"),
        "{err:?}"
    );
}

#[test]
fn total_size_over_the_limit_is_refused() {
    let limits = Limits {
        max_total_bytes: 150,
        ..Limits::default()
    };
    let err = refuse_with(
        &Evil::new().file("a", &[1; 70]).file("b", &[2; 70]).bundle(),
        &limits,
    );
    assert!(
        matches!(err, BundleError::TotalTooLarge { limit: 150 }),
        "{err:?}"
    );
}

#[test]
fn a_compression_bomb_is_stopped_while_streaming() {
    // 64 MiB of zeros compress to a few KiB: far over a 200:1 ratio.
    const SIZE: u64 = 64 << 20;
    let zeros = || io::repeat(0).take(SIZE);
    let mut hasher = Sha256::new();
    io::copy(&mut zeros(), &mut hasher).unwrap();
    let mut evil = Evil::new().list("bomb", hex::encode(hasher.finalize()));
    let manifest_first = std::mem::take(&mut evil.entries);
    assert!(manifest_first.is_empty());
    let mut tar = tar::Builder::new(zstd::Encoder::new(Vec::new(), 3).unwrap());
    let sums = serde_json::to_vec(evil.checksums.as_ref().unwrap()).unwrap();
    tar.append(
        &raw_header(
            b"manifest.json",
            EntryType::Regular,
            MANIFEST.len() as u64,
            b"",
        ),
        MANIFEST,
    )
    .unwrap();
    tar.append(
        &raw_header(
            b".pxp/checksums.json",
            EntryType::Regular,
            sums.len() as u64,
            b"",
        ),
        sums.as_slice(),
    )
    .unwrap();
    tar.append(&raw_header(b"bomb", EntryType::Regular, SIZE, b""), zeros())
        .unwrap();
    let bundle = tar.into_inner().unwrap().finish().unwrap();
    assert!(bundle.len() < 64 << 10, "bomb is small: {}", bundle.len());

    let sandbox = Sandbox::new();
    let err = sandbox.unpack(&bundle, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, BundleError::RatioExceeded { limit: 200 }),
        "{err:?}"
    );
    let written = std::fs::metadata(sandbox.staging().join("bomb"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(
        written < 8 << 20,
        "stopped early, not after writing {written} bytes"
    );
    sandbox.assert_contained();
    // With the ratio limit raised the same bundle unpacks.
    let limits = Limits {
        max_ratio: 1_000_000,
        ..Limits::default()
    };
    Sandbox::new().unpack(&bundle, &limits).unwrap();
}

#[test]
fn truncated_bundles_are_refused() {
    let bundle = Evil::new()
        .file("a", &[3; 5000])
        .file("b/c", b"tail")
        .bundle();
    Sandbox::new().unpack(&bundle, &Limits::default()).unwrap();
    for cut in [
        0,
        1,
        10,
        bundle.len() / 3,
        bundle.len() / 2,
        bundle.len() - 5,
        bundle.len() - 1,
    ] {
        let err = refuse(&bundle[..cut]);
        assert!(
            matches!(err, BundleError::Truncated),
            "cut at {cut}: {err:?}"
        );
    }
    // A complete zstd frame whose tar stops inside an entry.
    let tar = Evil::new().file("a", &[3; 5000]).tar();
    let cut = zstd::encode_all(&tar[..2600], 3).unwrap();
    let err = refuse(&cut);
    assert!(matches!(err, BundleError::Truncated), "{err:?}");
    // Cut cleanly between entries: the missing file is named.
    let cut = zstd::encode_all(&tar[..2048], 3).unwrap();
    let err = refuse(&cut);
    assert!(
        matches!(err, BundleError::MissingFile { ref path } if path == "a"),
        "{err:?}"
    );
}

#[test]
fn input_that_is_not_a_zstd_tar_is_refused() {
    let err = refuse(b"this is not a bundle, just some text that goes on for a while");
    assert!(matches!(err, BundleError::Malformed { .. }), "{err:?}");
    let plain_tar = Evil::new().file("a", b"a").tar();
    assert!(matches!(refuse(&plain_tar), BundleError::Malformed { .. }));
}

#[test]
fn staging_must_exist_and_be_empty() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.staging().join("old"), b"x").unwrap();
    let bundle = Evil::new().bundle();
    let err = sandbox.unpack(&bundle, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, BundleError::StagingNotEmpty { .. }),
        "{err:?}"
    );
    let missing = sandbox.dir.path().join("missing");
    let err = unpack(&mut &bundle[..], &missing, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, BundleError::StagingNotEmpty { .. }),
        "{err:?}"
    );
}

#[test]
fn input_arriving_in_small_reads_unpacks() {
    struct Chunky<'a>(&'a [u8]);
    impl Read for Chunky<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(4096);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let bundle = Evil::new().file("a", &[5; 100_000]).bundle();
    let sandbox = Sandbox::new();
    unpack(&mut Chunky(&bundle), &sandbox.staging(), &Limits::default()).unwrap();
    assert_eq!(
        std::fs::read(sandbox.staging().join("a")).unwrap(),
        vec![5; 100_000]
    );
}
