//! A PowerX plugin as it is (`plugin.yaml`, no `build` section, a backend at
//! `backend/bin/plugin`) goes live through `px-plugin install DIR`, and its
//! PowerX package (`package.tar.gz`, top folder `payload/`) through
//! `px-plugin install FILE.tar.gz`; both answer through `/_p/<id>/api/...`.

mod common;
mod livecore;

use std::process::{Output, Stdio};
use std::time::Duration;

use common::{POWERX_ID, powerx_project};
use livecore::LiveCore;

fn run(command: &mut std::process::Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `GET /_p/<id>/api/ping` answers `pxyaml <version>` within 10 s.
fn wait_version(core: &LiveCore, version: &str) {
    let needle = format!("pxyaml {version} at ");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = core.get(&format!("/_p/{POWERX_ID}/api/ping"), false);
        if status == 200 && body.contains(&needle) {
            assert!(body.ends_with("/ping"), "{body}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{POWERX_ID} did not answer {needle:?}: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_powerx_project_and_its_package_install_and_answer() {
    let core = LiveCore::start(100);
    let project = core.work.path().join("pxyaml");
    powerx_project(&project, "0.1.0");

    // the project directory as it is: built into dist/, installed
    let output = run(core.cli(core.work.path()).args(["install", "pxyaml"]));
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.contains(&format!("{POWERX_ID} 0.1.0 r1 live in")),
        "{shown}"
    );
    wait_version(&core, "0.1.0");
    assert!(
        !project.join("dist/README.md").exists(),
        "only named files are installed"
    );

    // its PowerX package: payload/ holds plugin.yaml and the built files
    let staging = tempfile::tempdir().unwrap();
    let payload = staging.path().join("payload");
    powerx_project(&payload, "0.2.0");
    for unnamed in ["README.md", "backend/cmd"] {
        let path = payload.join(unnamed);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }
    let package = core.work.path().join("package.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&package)
        .arg("-C")
        .arg(staging.path())
        .arg("payload")
        .status()
        .unwrap();
    assert!(status.success());
    let output = run(core
        .cli(core.work.path())
        .args(["--json", "install"])
        .arg(&package));
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "active", "{report}");
    assert_eq!(report["version"], "0.2.0");
    assert_eq!(report["revision"], 2);
    wait_version(&core, "0.2.0");

    // a .tgz is a package too; one that is really a .pxp is refused, saying so
    let pxp = core.work.path().join("not-gzip.tgz");
    let output = run(core
        .cli(core.work.path())
        .args(["build", "pxyaml", "--out"])
        .arg(&pxp));
    assert!(output.status.success(), "{}", text(&output));
    let output = run(core.cli(core.work.path()).arg("install").arg(&pxp));
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("bundle_invalid"), "{shown}");
    assert!(
        shown.contains("Content-Type: application/vnd.powerx.pxp"),
        "{shown}"
    );
    wait_version(&core, "0.2.0");
}
