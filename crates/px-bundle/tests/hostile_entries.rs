//! Hostile entries (paths, links, special files) must each be refused with
//! the right error and write nothing outside the staging directory.

mod common;

use common::*;
use px_bundle::{BundleError, Limits};
use tar::EntryType;

#[test]
fn a_well_formed_hand_made_bundle_is_accepted() {
    let bundle = Evil::new()
        .file("a/b.txt", b"hello")
        .symlink("a/link", "b.txt")
        .symlink("up", "a/../a/b.txt")
        .bundle();
    let sandbox = Sandbox::new();
    let summary = sandbox.unpack(&bundle, &Limits::default()).unwrap();
    assert_eq!(summary.files, 2);
    assert_eq!(summary.bytes, (MANIFEST.len() + 5) as u64);
    assert_eq!(
        std::fs::read(sandbox.staging().join("a/link")).unwrap(),
        b"hello"
    );
    assert!(
        !sandbox.staging().join(".pxp").exists(),
        "checksums.json is not staged"
    );
    sandbox.assert_contained();
}

#[test]
fn dotdot_paths_are_refused() {
    let err = refuse(&Evil::new().file("../escaped", b"x").bundle());
    assert!(
        matches!(err, BundleError::DotDot { ref path } if path == "../escaped"),
        "{err:?}"
    );
    let err = refuse(&Evil::new().file("a/../../escaped", b"x").bundle());
    assert!(matches!(err, BundleError::DotDot { .. }), "{err:?}");
}

#[test]
fn absolute_paths_are_refused() {
    let target = tempfile::tempdir().unwrap();
    let abs = target.path().join("abs-escape");
    let err = refuse(&Evil::new().file(abs.to_str().unwrap(), b"x").bundle());
    assert!(matches!(err, BundleError::AbsolutePath { .. }), "{err:?}");
    assert!(!abs.exists());
}

#[test]
fn escaping_symlinks_are_refused() {
    let err = refuse(
        &Evil::new()
            .symlink("link", "../..")
            .file("link/x", b"x")
            .bundle(),
    );
    assert!(
        matches!(err, BundleError::SymlinkEscape { ref path, .. } if path == "link"),
        "{err:?}"
    );
    let err = refuse(&Evil::new().symlink("etc", "/etc").bundle());
    assert!(matches!(err, BundleError::SymlinkEscape { .. }), "{err:?}");
    let err = refuse(&Evil::new().symlink("a/b/link", "../../../x").bundle());
    assert!(matches!(err, BundleError::SymlinkEscape { .. }), "{err:?}");
}

#[test]
fn escaping_symlink_chains_are_refused_in_either_order() {
    // sub/up -> .. is the root, so top -> sub/up/.. is above it.
    let err = refuse(
        &Evil::new()
            .symlink("sub/up", "..")
            .symlink("top", "sub/up/..")
            .bundle(),
    );
    assert!(
        matches!(err, BundleError::SymlinkEscape { ref path, .. } if path == "top"),
        "{err:?}"
    );
    // The same with the link created first: only the final check can see it.
    let err = refuse(
        &Evil::new()
            .symlink("top", "sub/up/..")
            .symlink("sub/up", "..")
            .bundle(),
    );
    assert!(
        matches!(err, BundleError::SymlinkEscape { ref path, .. } if path == "top"),
        "{err:?}"
    );
}

#[test]
fn symlink_loops_are_refused() {
    let err = refuse(&Evil::new().symlink("a", "b").symlink("b", "a").bundle());
    assert!(matches!(err, BundleError::SymlinkLoop { .. }), "{err:?}");
}

#[test]
fn writing_through_a_symlinked_parent_is_refused() {
    // Even a link that stays inside is never written through.
    let err = refuse(
        &Evil::new()
            .file("real/keep", b"k")
            .symlink("link", "real")
            .file("link/x", b"x")
            .bundle(),
    );
    assert!(
        matches!(err, BundleError::SymlinkParent { ref path } if path == "link/x"),
        "{err:?}"
    );
    let err = refuse(
        &Evil::new()
            .symlink("link", ".")
            .file("link/link/x", b"x")
            .bundle(),
    );
    assert!(matches!(err, BundleError::SymlinkParent { .. }), "{err:?}");
}

#[test]
fn hardlinks_are_refused() {
    let err = refuse(
        &Evil::new()
            .special("hl", EntryType::Link, "manifest.json")
            .bundle(),
    );
    assert!(
        matches!(err, BundleError::HardLink { ref target, .. } if target == "manifest.json"),
        "{err:?}"
    );
    let err = refuse(
        &Evil::new()
            .special("hl", EntryType::Link, "../../../etc/passwd")
            .bundle(),
    );
    assert!(matches!(err, BundleError::HardLink { .. }), "{err:?}");
}

#[test]
fn devices_fifos_and_other_types_are_refused() {
    let err = refuse(&Evil::new().special("tty", EntryType::Char, "").bundle());
    assert!(matches!(err, BundleError::Device { .. }), "{err:?}");
    let err = refuse(&Evil::new().special("sda", EntryType::Block, "").bundle());
    assert!(matches!(err, BundleError::Device { .. }), "{err:?}");
    let err = refuse(&Evil::new().special("pipe", EntryType::Fifo, "").bundle());
    assert!(matches!(err, BundleError::Fifo { .. }), "{err:?}");
    let err = refuse(
        &Evil::new()
            .special("cont", EntryType::Continuous, "")
            .bundle(),
    );
    assert!(
        matches!(err, BundleError::UnsupportedEntry { kind: '7', .. }),
        "{err:?}"
    );
}

#[test]
fn duplicate_entries_are_refused() {
    let err = refuse(&Evil::new().unlisted("manifest.json", MANIFEST).bundle());
    assert!(matches!(err, BundleError::Duplicate { .. }), "{err:?}");
    let err = refuse(&Evil::new().file("a", b"a").file("a/b", b"b").bundle());
    assert!(
        matches!(err, BundleError::Duplicate { ref path } if path == "a/b"),
        "{err:?}"
    );
}
