//! `unpack_package`: PowerX `package.tar.gz` files (gzip tar, `payload/`
//! prefix or none), well formed and hostile, each refused with its own error
//! and nothing written outside the staging directory.

mod common;

use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;

use common::{Evil, Sandbox, raw_header};
use flate2::Compression;
use flate2::write::GzEncoder;
use px_bundle::{BundleError, Format, Limits, Summary, digest_dir, unpack_package};
use tar::{EntryType, Header};

const PLUGIN_YAML: &[u8] = b"id: com.example.pkg\nname: Pkg\nversion: 0.1.0\n";

/// A package under construction: tar entries in order, gzip at the end.
struct Pkg {
    tar: tar::Builder<Vec<u8>>,
}

impl Pkg {
    fn new() -> Self {
        Pkg {
            tar: tar::Builder::new(Vec::new()),
        }
    }

    /// The layout PowerX's tools write: `.`, `payload/`, then the files.
    fn payload() -> Self {
        Pkg::new()
            .dir("./")
            .dir("payload/")
            .file("payload/plugin.yaml", PLUGIN_YAML)
    }

    fn raw(mut self, header: Header, data: &[u8]) -> Self {
        self.tar.append(&header, data).unwrap();
        self
    }

    fn file(self, path: &str, data: &[u8]) -> Self {
        let header = raw_header(path.as_bytes(), EntryType::Regular, data.len() as u64, b"");
        self.raw(header, data)
    }

    fn exec(self, path: &str, data: &[u8]) -> Self {
        let mut header = raw_header(path.as_bytes(), EntryType::Regular, data.len() as u64, b"");
        header.set_mode(0o755);
        header.set_cksum();
        self.raw(header, data)
    }

    fn dir(self, path: &str) -> Self {
        let header = raw_header(path.as_bytes(), EntryType::Directory, 0, b"");
        self.raw(header, b"")
    }

    fn link(self, path: &str, kind: EntryType, target: &str) -> Self {
        let header = raw_header(path.as_bytes(), kind, 0, target.as_bytes());
        self.raw(header, b"")
    }

    fn tar(self) -> Vec<u8> {
        self.tar.into_inner().unwrap()
    }

    fn gz(self) -> Vec<u8> {
        gzip(&self.tar())
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn unpack_in(sandbox: &Sandbox, bytes: &[u8], limits: &Limits) -> Result<Summary, BundleError> {
    unpack_package(&mut &bytes[..], &sandbox.staging(), limits)
}

/// Unpacks, checks containment, returns the error.
fn refuse_with(bytes: &[u8], limits: &Limits) -> BundleError {
    let sandbox = Sandbox::new();
    let result = unpack_in(&sandbox, bytes, limits);
    sandbox.assert_contained();
    result.expect_err("hostile package was accepted")
}

fn refuse(bytes: &[u8]) -> BundleError {
    refuse_with(bytes, &Limits::default())
}

#[test]
fn payload_is_stripped_and_the_digest_is_the_staged_trees() {
    let package = Pkg::payload()
        .dir("payload/backend/bin/")
        .exec("payload/backend/bin/plugin", b"#!/bin/sh\n")
        .file("payload/web-admin/.output/public/index.html", b"<p>hi</p>")
        .link("payload/latest", EntryType::Symlink, "./backend//bin")
        .gz();
    let sandbox = Sandbox::new();
    let summary = unpack_in(&sandbox, &package, &Limits::default()).unwrap();
    let staging = sandbox.staging();
    assert_eq!(
        std::fs::read(staging.join("plugin.yaml")).unwrap(),
        PLUGIN_YAML
    );
    assert!(!staging.join("payload").exists(), "the prefix is stripped");
    let mode = std::fs::metadata(staging.join("backend/bin/plugin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(summary.files, 3);
    assert_eq!(summary.digest, digest_dir(&staging).unwrap().digest);
    sandbox.assert_contained();
}

#[test]
fn a_package_without_the_prefix_is_taken_as_it_is() {
    let package = Pkg::new()
        .dir(".")
        .file("plugin.yaml", PLUGIN_YAML)
        .file(
            "payload/data.txt",
            b"a folder that happens to be called payload",
        )
        .gz();
    let sandbox = Sandbox::new();
    unpack_in(&sandbox, &package, &Limits::default()).unwrap();
    assert!(sandbox.staging().join("plugin.yaml").is_file());
    assert!(sandbox.staging().join("payload/data.txt").is_file());
}

#[test]
fn a_packed_plugin_yaml_tree_round_trips_through_pxp() {
    let sandbox = Sandbox::new();
    let package = Pkg::payload()
        .exec("payload/bin/plugin", b"#!/bin/sh\n")
        .gz();
    let summary = unpack_in(&sandbox, &package, &Limits::default()).unwrap();
    // a staged package packs (plugin.yaml first) and unpacks to the same digest
    let mut pxp = Vec::new();
    let packed = px_bundle::pack(&sandbox.staging(), &mut pxp).unwrap();
    assert_eq!(packed.digest, summary.digest);
    let again = Sandbox::new();
    let unpacked = again.unpack(&pxp, &Limits::default()).unwrap();
    assert_eq!(unpacked.digest, summary.digest);
}

#[test]
fn a_package_without_plugin_yaml_is_refused() {
    let err = refuse(&Pkg::new().dir("payload/").file("payload/x", b"x").gz());
    assert!(matches!(err, BundleError::MissingPluginYaml), "{err:?}");
    let err = refuse(&Pkg::new().dir("payload/plugin.yaml/").gz());
    assert!(matches!(err, BundleError::MissingPluginYaml), "{err:?}");
    let err = refuse(&Pkg::new().gz());
    assert!(matches!(err, BundleError::MissingPluginYaml), "{err:?}");
}

#[test]
fn entries_outside_payload_are_refused() {
    let err = refuse(&Pkg::payload().file("elsewhere.txt", b"x").gz());
    assert!(
        matches!(err, BundleError::OutsidePayload { ref path } if path == "elsewhere.txt"),
        "{err:?}"
    );
}

#[test]
fn dotdot_and_absolute_paths_are_refused() {
    let err = refuse(&Pkg::payload().file("payload/../../escaped", b"x").gz());
    assert!(matches!(err, BundleError::DotDot { .. }), "{err:?}");
    let target = tempfile::tempdir().unwrap();
    let abs = target.path().join("abs-escape");
    let err = refuse(&Pkg::new().file(abs.to_str().unwrap(), b"x").gz());
    assert!(matches!(err, BundleError::AbsolutePath { .. }), "{err:?}");
    assert!(!abs.exists());
}

#[test]
fn links_leaving_the_package_are_refused() {
    // ../.. from payload/link leaves the (stripped) root
    let err = refuse(
        &Pkg::payload()
            .link("payload/link", EntryType::Symlink, "../..")
            .gz(),
    );
    assert!(matches!(err, BundleError::SymlinkEscape { .. }), "{err:?}");
    let err = refuse(
        &Pkg::payload()
            .link("payload/passwd", EntryType::Symlink, "/etc/passwd")
            .gz(),
    );
    assert!(matches!(err, BundleError::SymlinkEscape { .. }), "{err:?}");
    // pointing at payload/ itself is outside once the prefix is gone
    let err = refuse(
        &Pkg::payload()
            .link("payload/up", EntryType::Symlink, "../payload")
            .gz(),
    );
    assert!(matches!(err, BundleError::SymlinkEscape { .. }), "{err:?}");
    // a file written through a symlinked directory
    let err = refuse(
        &Pkg::payload()
            .dir("payload/sub/")
            .link("payload/ln", EntryType::Symlink, "sub")
            .file("payload/ln/x", b"x")
            .gz(),
    );
    assert!(matches!(err, BundleError::SymlinkParent { .. }), "{err:?}");
    // a symlink made to escape later by another symlink
    let err = refuse(
        &Pkg::payload()
            .link("payload/a", EntryType::Symlink, "b/..")
            .link("payload/b", EntryType::Symlink, "..")
            .gz(),
    );
    assert!(matches!(err, BundleError::SymlinkEscape { .. }), "{err:?}");
}

#[test]
fn hardlinks_devices_and_fifos_are_refused() {
    let err = refuse(
        &Pkg::payload()
            .link("payload/hard", EntryType::Link, "payload/plugin.yaml")
            .gz(),
    );
    assert!(matches!(err, BundleError::HardLink { .. }), "{err:?}");
    let err = refuse(&Pkg::payload().link("payload/tty", EntryType::Char, "").gz());
    assert!(matches!(err, BundleError::Device { .. }), "{err:?}");
    let err = refuse(
        &Pkg::payload()
            .link("payload/sda", EntryType::Block, "")
            .gz(),
    );
    assert!(matches!(err, BundleError::Device { .. }), "{err:?}");
    let err = refuse(
        &Pkg::payload()
            .link("payload/pipe", EntryType::Fifo, "")
            .gz(),
    );
    assert!(matches!(err, BundleError::Fifo { .. }), "{err:?}");
}

#[test]
fn duplicates_and_reserved_paths_are_refused() {
    let err = refuse(&Pkg::payload().file("payload/plugin.yaml", b"again").gz());
    assert!(matches!(err, BundleError::Duplicate { .. }), "{err:?}");
    let err = refuse(
        &Pkg::payload()
            .file("payload/.pxp/checksums.json", b"{}")
            .gz(),
    );
    assert!(matches!(err, BundleError::ReservedPath { .. }), "{err:?}");
}

#[test]
fn limits_hold() {
    let many = Limits {
        max_entries: 4,
        ..Limits::default()
    };
    let err = refuse_with(
        &Pkg::payload()
            .file("payload/a", b"a")
            .file("payload/b", b"b")
            .gz(),
        &many,
    );
    assert!(
        matches!(err, BundleError::TooManyEntries { limit: 4 }),
        "{err:?}"
    );

    let per_file = Limits {
        max_file_bytes: 1000,
        ..Limits::default()
    };
    let err = refuse_with(
        &Pkg::payload().file("payload/big", &[7; 1001]).gz(),
        &per_file,
    );
    assert!(
        matches!(err, BundleError::FileTooLarge { ref path, limit: 1000 } if path == "big"),
        "{err:?}"
    );

    let total = Limits {
        max_total_bytes: 150,
        ..Limits::default()
    };
    let err = refuse_with(
        &Pkg::payload()
            .file("payload/a", &[1; 70])
            .file("payload/b", &[2; 70])
            .gz(),
        &total,
    );
    assert!(
        matches!(err, BundleError::TotalTooLarge { limit: 150 }),
        "{err:?}"
    );
}

#[test]
fn a_compression_bomb_is_stopped_while_streaming() {
    // 64 MiB of zeros gzip to about 64 KiB: far over a 200:1 ratio.
    const SIZE: u64 = 64 << 20;
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::best()));
    let header = raw_header(
        b"payload/plugin.yaml",
        EntryType::Regular,
        PLUGIN_YAML.len() as u64,
        b"",
    );
    tar.append(&header, PLUGIN_YAML).unwrap();
    let header = raw_header(b"payload/bomb", EntryType::Regular, SIZE, b"");
    tar.append(&header, io::repeat(0).take(SIZE)).unwrap();
    let package = tar.into_inner().unwrap().finish().unwrap();
    assert!(
        package.len() < 256 << 10,
        "bomb is small: {}",
        package.len()
    );

    let sandbox = Sandbox::new();
    let err = unpack_in(&sandbox, &package, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, BundleError::RatioExceeded { limit: 200 }),
        "{err:?}"
    );
    let written = std::fs::metadata(sandbox.staging().join("bomb"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(
        written < 8 << 20,
        "stopped early, not after {written} bytes"
    );
    sandbox.assert_contained();
    let lenient = Limits {
        max_ratio: 1_000_000,
        ..Limits::default()
    };
    unpack_in(&Sandbox::new(), &package, &lenient).unwrap();
}

#[test]
fn truncated_and_corrupt_packages_are_refused() {
    let package = Pkg::payload().file("payload/a", &[3; 5000]).gz();
    unpack_in(&Sandbox::new(), &package, &Limits::default()).unwrap();
    for cut in [package.len() / 2, package.len() - 5] {
        let err = refuse(&package[..cut]);
        assert!(
            matches!(err, BundleError::Truncated),
            "cut at {cut}: {err:?}"
        );
    }
    let mut flipped = package.clone();
    let at = flipped.len() - 6; // inside the CRC32 trailer
    flipped[at] ^= 0xff;
    let err = refuse(&flipped);
    assert!(
        matches!(err, BundleError::MalformedPackage { .. }),
        "{err:?}"
    );
    let err = refuse(b"\x1f\x8bthis is not deflate data at all, only text");
    assert!(
        matches!(err, BundleError::MalformedPackage { .. }),
        "{err:?}"
    );
    let err = refuse(&Pkg::payload().tar());
    assert!(
        matches!(err, BundleError::MalformedPackage { .. }),
        "{err:?}"
    );
}

#[test]
fn each_format_names_the_other() {
    let pxp = Evil::new().file("a", b"a").bundle();
    let err = refuse(&pxp);
    assert!(
        matches!(
            err,
            BundleError::WrongFormat {
                found: Format::Pxp,
                expected: Format::Package
            }
        ),
        "{err:?}"
    );
    let package = Pkg::payload().gz();
    let sandbox = Sandbox::new();
    let err = sandbox.unpack(&package, &Limits::default()).unwrap_err();
    sandbox.assert_contained();
    assert!(
        matches!(
            err,
            BundleError::WrongFormat {
                found: Format::Package,
                expected: Format::Pxp
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("application/gzip"), "{err}");
}

#[test]
fn staging_must_be_empty() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.staging().join("x"), b"x").unwrap();
    let err = unpack_in(&sandbox, &Pkg::payload().gz(), &Limits::default()).unwrap_err();
    assert!(
        matches!(err, BundleError::StagingNotEmpty { .. }),
        "{err:?}"
    );
}
