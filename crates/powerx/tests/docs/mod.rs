//! Runs the shell examples of the docs against the real binaries, in one
//! bash session in a fresh temporary directory (shared by `tests/guide.rs`
//! and `tests/readme_tour.rs`).
//!
//! The session is what a developer's terminal would be: `HOME` is the
//! temporary directory (so Core's default `dev.allowed_dirs: ["~"]` covers
//! it and `px-plugin login` saves there), `PATH` starts with the directory
//! holding `powerx` and `px-plugin` (this test's `CARGO_BIN_EXE_powerx`;
//! `px-plugin` is built next to it with `cargo build -p px-plugin` first),
//! `NO_COLOR=1`, and nothing of the caller's `PX_*` variables. Two things
//! differ from a reader's machine, both so tests can run side by side:
//! `PX_LISTEN=127.0.0.1:0` makes `powerx serve` pick a free port, and once a
//! background command prints `listening on URL`, the session exports
//! `PX_CORE_URL=URL` (a reader's CLI finds Core at its default
//! `http://127.0.0.1:8077`).

#![allow(dead_code)]

pub mod markdown;
pub mod matching;
pub mod session;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory with `powerx` and a fresh `px-plugin`.
pub fn bin_dir() -> PathBuf {
    let powerx = PathBuf::from(env!("CARGO_BIN_EXE_powerx"));
    let dir = powerx.parent().unwrap().to_owned();
    // Same profile as this test's powerx: target/<profile>/.
    let profile = dir.file_name().unwrap().to_string_lossy().into_owned();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(repo())
        .args(["build", "-q", "-p", "px-plugin"]);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    let status = build.status().expect("running cargo build -p px-plugin");
    assert!(status.success(), "cargo build -p px-plugin failed");
    assert!(
        dir.join("px-plugin").exists(),
        "no px-plugin in {}",
        dir.display()
    );
    dir
}
