//! Packing is deterministic and `pack` → `unpack` gives back the same tree.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use px_bundle::{BundleError, CHECKSUMS_PATH, Limits, digest_dir, pack, unpack};

/// What a path in a tree is, for comparing trees.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File { data: Vec<u8>, exec: bool },
    Link(String),
}

fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut nodes = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1) {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let node = if entry.file_type().is_symlink() {
            Node::Link(
                fs::read_link(entry.path())
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned(),
            )
        } else if entry.file_type().is_dir() {
            Node::Dir
        } else {
            let exec = entry.metadata().unwrap().permissions().mode() & 0o111 != 0;
            Node::File {
                data: fs::read(entry.path()).unwrap(),
                exec,
            }
        };
        nodes.insert(rel, node);
    }
    nodes
}

fn pack_bytes(dir: &Path) -> (Vec<u8>, px_bundle::Summary) {
    let mut out = Vec::new();
    let summary = pack(dir, &mut out).unwrap();
    (out, summary)
}

fn write_file(path: &Path, data: &[u8], exec: bool) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
    fs::set_permissions(
        path,
        fs::Permissions::from_mode(if exec { 0o755 } else { 0o644 }),
    )
    .unwrap();
}

/// A random tree: files at nested paths (some long enough for GNU long names),
/// empty directories, and symlinks to files.
#[derive(Debug, Clone)]
struct Spec {
    files: Vec<(Vec<String>, Vec<u8>, bool)>,
    empty_dirs: Vec<Vec<String>>,
    links: Vec<(Vec<String>, usize)>,
}

fn segment() -> impl Strategy<Value = String> + Clone {
    prop_oneof![4 => "[a-z][a-z0-9._-]{0,7}", 1 => "[a-z][a-z0-9 ._-]{20,45}"]
}

fn spec() -> impl Strategy<Value = Spec> {
    let path = prop::collection::vec(segment(), 1..5);
    let file = (
        path.clone(),
        prop::collection::vec(any::<u8>(), 0..3000),
        any::<bool>(),
    );
    (
        prop::collection::vec(file, 0..25),
        prop::collection::vec(path.clone(), 0..4),
        prop::collection::vec(
            (
                path,
                any::<prop::sample::Index>().prop_map(|i| i.index(usize::MAX)),
            ),
            0..4,
        ),
    )
        .prop_map(|(files, empty_dirs, links)| Spec {
            files,
            empty_dirs,
            links,
        })
}

/// Whether `path` can be added: no ancestor is a non-directory and the path is new.
fn free(taken: &BTreeMap<String, bool>, path: &[String]) -> bool {
    let joined = path.join("/");
    if taken.contains_key(&joined) {
        return false;
    }
    let below = format!("{joined}/");
    if taken.keys().any(|k| k.starts_with(&below)) {
        return false;
    }
    (1..path.len()).all(|i| taken.get(&path[..i].join("/")) != Some(&false))
}

/// Writes the spec under `root` (plus `manifest.json`); `taken` maps each
/// path to whether it is a directory.
fn materialize(spec: &Spec, root: &Path) {
    let mut taken: BTreeMap<String, bool> = BTreeMap::new();
    write_file(
        &root.join("manifest.json"),
        br#"{"id":"com.example.t"}"#,
        false,
    );
    taken.insert("manifest.json".into(), false);
    let mut files = Vec::new();
    for (path, data, exec) in &spec.files {
        if !free(&taken, path) {
            continue;
        }
        for i in 1..path.len() {
            taken.insert(path[..i].join("/"), true);
        }
        taken.insert(path.join("/"), false);
        write_file(&root.join(path.join("/")), data, *exec);
        files.push(path.clone());
    }
    for dir in &spec.empty_dirs {
        if free(&taken, dir) {
            for i in 1..=dir.len() {
                taken.insert(dir[..i].join("/"), true);
            }
            fs::create_dir_all(root.join(dir.join("/"))).unwrap();
        }
    }
    for (link, pick) in &spec.links {
        if files.is_empty() || !free(&taken, link) {
            continue;
        }
        let target = &files[pick % files.len()];
        for i in 1..link.len() {
            taken.insert(link[..i].join("/"), true);
        }
        taken.insert(link.join("/"), false);
        let relative = format!("{}{}", "../".repeat(link.len() - 1), target.join("/"));
        let at = root.join(link.join("/"));
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(relative, at).unwrap();
    }
}

/// Moves every mtime and drops group/other read bits: neither may change the bundle.
fn disturb(root: &Path) {
    let later = SystemTime::now() + Duration::from_secs(86_400);
    for entry in walkdir::WalkDir::new(root).min_depth(1) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let file = fs::File::options().append(true).open(entry.path()).unwrap();
            file.set_modified(later).unwrap();
            let mode = entry.metadata().unwrap().permissions().mode();
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(mode & 0o700)).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn pack_unpack_round_trips_and_is_deterministic(spec in spec()) {
        let work = tempfile::tempdir().unwrap();
        let src = work.path().join("src");
        materialize(&spec, &src);

        let (bundle, packed) = pack_bytes(&src);
        prop_assert_eq!(&digest_dir(&src).unwrap(), &packed);

        let staging = work.path().join("staging");
        fs::create_dir(&staging).unwrap();
        let unpacked = unpack(&mut bundle.as_slice(), &staging, &Limits::default()).unwrap();
        prop_assert_eq!(&unpacked, &packed);
        prop_assert_eq!(snapshot(&staging), snapshot(&src));
        prop_assert_eq!(&digest_dir(&staging).unwrap(), &packed);

        // Same sources, other mtimes and modes: same bytes; the staged copy too.
        prop_assert!(pack_bytes(&src).0 == bundle);
        disturb(&src);
        prop_assert!(pack_bytes(&src).0 == bundle);
        prop_assert!(pack_bytes(&staging).0 == bundle);
    }
}

#[test]
fn a_content_change_changes_bytes_and_digest() {
    let work = tempfile::tempdir().unwrap();
    write_file(&work.path().join("manifest.json"), b"{}", false);
    write_file(&work.path().join("bin/run"), b"#!/bin/sh\n", true);
    let (first, a) = pack_bytes(work.path());
    write_file(&work.path().join("bin/run"), b"#!/bin/sh\n", false);
    let (second, b) = pack_bytes(work.path());
    assert_eq!(a.digest, b.digest, "the digest covers content, not modes");
    assert_ne!(first, second, "the bundle records the exec bit");
    write_file(&work.path().join("bin/run"), b"#!/bin/bash\n", false);
    let (_, c) = pack_bytes(work.path());
    assert_ne!(a.digest, c.digest);
}

#[test]
fn layout_is_manifest_then_checksums_then_sorted_entries_with_normalized_headers() {
    let work = tempfile::tempdir().unwrap();
    let dist = work.path();
    write_file(&dist.join("manifest.json"), b"{}", false);
    write_file(&dist.join("z.txt"), b"z", false);
    write_file(&dist.join("a/b.sh"), b"echo", true);
    write_file(&dist.join("a-b"), b"x", false);
    std::os::unix::fs::symlink("a/b.sh", dist.join("run")).unwrap();
    let (bundle, summary) = pack_bytes(dist);
    assert_eq!((summary.files, summary.bytes), (4, 2 + 1 + 4 + 1));

    let tar = zstd::decode_all(bundle.as_slice()).unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        assert_eq!(header.mtime().unwrap(), 0);
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
        assert_eq!(header.username().unwrap(), Some(""));
        assert_eq!(header.groupname().unwrap(), Some(""));
        let path = entry.path().unwrap().to_str().unwrap().to_owned();
        let mode = header.mode().unwrap();
        seen.push((path, mode));
    }
    let expected = [
        ("manifest.json", 0o644),
        (CHECKSUMS_PATH, 0o644),
        ("a", 0o755),
        ("a-b", 0o644),
        ("a/b.sh", 0o755),
        ("run", 0o777),
        ("z.txt", 0o644),
    ];
    let seen: Vec<(&str, u32)> = seen
        .iter()
        .map(|(p, m)| (p.trim_end_matches('/'), *m))
        .collect();
    assert_eq!(seen, expected);

    let sums: BTreeMap<String, String> = {
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut entries = archive.entries().unwrap().skip(1);
        serde_json::from_reader(entries.next().unwrap().unwrap()).unwrap()
    };
    assert_eq!(
        sums.keys().collect::<Vec<_>>(),
        ["a-b", "a/b.sh", "manifest.json", "run", "z.txt"]
    );
    assert_eq!(sums["run"], "symlink:a/b.sh");
    assert_eq!(
        sums["z.txt"],
        "594e519ae499312b29433b7dd8a97ff068defcba9755b6d5d00e84c524d67b06"
    );
}

#[test]
fn pack_refuses_what_a_bundle_cannot_hold() {
    let work = tempfile::tempdir().unwrap();
    let dist = work.path().join("dist");
    fs::create_dir(&dist).unwrap();
    let err = pack(&dist, &mut Vec::new()).unwrap_err();
    assert!(
        matches!(err, BundleError::MissingManifest { .. }),
        "{err:?}"
    );

    write_file(&dist.join("manifest.json"), b"{}", false);
    std::os::unix::fs::symlink("../outside", dist.join("out")).unwrap();
    let err = pack(&dist, &mut Vec::new()).unwrap_err();
    assert!(
        matches!(err, BundleError::SymlinkEscape { ref path, .. } if path == "out"),
        "{err:?}"
    );
    fs::remove_file(dist.join("out")).unwrap();

    nix::unistd::mkfifo(
        &dist.join("pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let err = digest_dir(&dist).unwrap_err();
    assert!(
        matches!(err, BundleError::SpecialFile { ref path } if path == "pipe"),
        "{err:?}"
    );
    fs::remove_file(dist.join("pipe")).unwrap();

    write_file(&dist.join(".pxp/checksums.json"), b"{}", false);
    let err = pack(&dist, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, BundleError::ReservedPath { .. }), "{err:?}");
    fs::remove_dir_all(dist.join(".pxp")).unwrap();

    pack(&dist, &mut Vec::new()).unwrap();
}
