//! A PowerX plugin as it is (`plugin.yaml`, no `build` section, a backend at
//! `backend/bin/plugin`) goes live through `px-plugin install DIR`, and its
//! PowerX package (`package.tar.gz`, top folder `payload/`) through
//! `px-plugin install FILE.tar.gz`; both answer through `/_p/<id>/api/...`.
//! `px-plugin dev --watch` reloads an edited backend and names a missing one.

mod common;
mod livecore;

use std::process::{Output, Stdio};
use std::time::Duration;

use common::{POWERX_ID, powerx_project};
use livecore::{LiveCore, Running, edit};

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

/// `GET /_p/<id>/api/ping` answers `pxyaml <version>` within 10 s, the
/// backend seeing the path below its `http_base_path` (`/api/v1`).
fn wait_version(core: &LiveCore, version: &str) {
    let needle = format!("pxyaml {version} at ");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = core.get(&format!("/_p/{POWERX_ID}/api/ping"), false);
        if status == 200 && body.contains(&needle) {
            assert_eq!(body, format!("{needle}/api/v1/ping"));
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

#[test]
fn dev_watch_reloads_a_powerx_project_and_names_a_missing_backend() {
    const LIMIT: Duration = Duration::from_secs(30);
    let core = LiveCore::start(100);
    let project = core.work.path().join("pxyaml");
    powerx_project(&project, "0.1.0");
    let mut command = core.cli(&project);
    command.args(["dev", "--watch"]);
    let dev = Running::spawn(command);
    let live = dev.expect("live in", LIMIT);
    assert!(live.contains("r1"), "{live}");
    wait_version(&core, "0.1.0");

    // the backend binary changes (as `go build` would rewrite it): r2
    let backend = project.join("backend/bin/plugin");
    edit(&backend, "pxyaml 0.1.0 at", "pxyaml 0.1.0-edited at");
    let live = dev.expect("live in", LIMIT);
    assert!(live.contains("r2"), "{live}");
    wait_version(&core, "0.1.0-edited");

    // the backend gone: the build fails saying how to build it; r2 serves on
    let text = std::fs::read_to_string(&backend).unwrap();
    std::fs::remove_file(&backend).unwrap();
    let failed = dev.expect("build the backend first", LIMIT);
    assert!(
        failed.contains("runtime.entry backend/bin/plugin does not exist"),
        "{failed}"
    );
    wait_version(&core, "0.1.0-edited");

    // built again: live
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(&backend, text.replace("0.1.0-edited", "0.1.0-rebuilt")).unwrap();
        std::fs::set_permissions(&backend, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dev.expect("live in", LIMIT);
    wait_version(&core, "0.1.0-rebuilt");
    assert_eq!(dev.interrupt(), 0);
}
