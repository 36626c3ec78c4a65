//! `install`, `uninstall`, `status`, `logs`, `login` and `completions`
//! against a real Core in this process; unreachable Core exits 3.

mod livecore;

use std::io::Write as _;
use std::process::{Output, Stdio};
use std::time::Duration;

use livecore::{LiveCore, Running};

const ID: &str = "com.example.hello";

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

#[test]
fn install_status_logs_uninstall() {
    let core = LiveCore::start(100);
    let project = core.new_project("hello");

    // not installed yet
    let output = run(core.cli(&project).arg("status"));
    assert!(output.status.success(), "{}", text(&output));
    let shown = text(&output);
    assert!(shown.contains("dev mode on"), "{shown}");
    assert!(shown.contains("dev (*)"), "{shown}");
    assert!(shown.contains("not installed"), "{shown}");

    // install: a directory install (Core is local), report printed
    let output = run(core.cli(&project).arg("install"));
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.contains("com.example.hello 0.1.0 r1 live in"),
        "{shown}"
    );
    assert!(shown.contains("health"), "{shown}");
    core.wait_hello(ID, "hello from", Duration::from_secs(10));

    // --json: the report; --mode upload works too
    let output = run(core
        .cli(&project)
        .args(["install", "--json", "--mode", "upload"]));
    assert!(output.status.success(), "{}", text(&output));
    let report: px_api::InstallReport = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report.revision, Some(2));
    assert_eq!(report.status, px_api::InstallStatus::Active);

    // status: up to date; then stale after a local rebuild with a change
    let output = run(core.cli(&project).args(["status", "--json"]));
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["local"]["state"], "up_to_date", "{status:#}");
    assert_eq!(status["me"]["actor"], "dev");
    assert_eq!(status["plugins"][0]["revision"], 2);
    livecore::edit(
        &project.join("server.py"),
        "{greeting} from",
        "{greeting} v2 from",
    );
    assert!(run(core.cli(&project).arg("build")).status.success());
    let output = run(core.cli(&project).arg("status"));
    assert!(text(&output).contains("STALE"), "{}", text(&output));

    // logs: lifecycle events and the plugin's lines, with revisions
    let output = run(core.cli(&project).args(["logs", "--tail", "500"]));
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.contains("[r2] GET /hello") || shown.contains("[r1] GET /hello"),
        "{shown}"
    );
    assert!(shown.contains("▸"), "{shown}");
    let output = run(core
        .cli(&project)
        .args(["logs", ID, "--json", "--tail", "3"]));
    let lines: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(lines.len(), 3);
    for line in lines {
        let message: px_api::LogMessage = serde_json::from_str(line).unwrap();
        assert_eq!(message.plugin_id, ID);
    }

    // a project directory works wherever the id does (from its parent)
    let parent = project.parent().unwrap();
    let output = run(core
        .cli(parent)
        .args(["logs", "hello", "--tail", "1", "--json"]));
    assert!(output.status.success(), "{}", text(&output));
    let message: px_api::LogMessage =
        serde_json::from_str(std::str::from_utf8(&output.stdout).unwrap().trim()).unwrap();
    assert_eq!(message.plugin_id, ID);

    // logs --follow: a new line arrives over the WebSocket
    let mut command = core.cli(&project);
    command.args(["logs", "--follow", "--tail", "0"]);
    let follow = Running::spawn(command);
    std::thread::sleep(Duration::from_millis(300));
    core.get(&format!("/_p/{ID}/api/hello?from=follow"), false);
    follow.expect("hello?from=follow", Duration::from_secs(10));
    assert_eq!(follow.interrupt(), 0);

    // a broken install exits 1 with the reason
    livecore::edit(
        &project.join("server.py"),
        "import json",
        "import json\nraise SystemExit(9)",
    );
    let output = run(core.cli(&project).arg("install"));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let shown = text(&output);
    assert!(shown.contains("r3 rolled back: start_failed"), "{shown}");
    assert!(shown.contains("r2 still serves"), "{shown}");

    // uninstall (a directory naming the project; ./manifest.json works the same)
    let output = run(core.cli(parent).args(["uninstall", "./hello"]));
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(core.get(&format!("/api/plugins/{ID}"), true).0, 404);
    let output = run(core.cli(&project).args(["uninstall", ID]));
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).contains("not installed"), "{}", text(&output));
}

#[test]
fn login_checks_and_saves_the_token() {
    let core = LiveCore::start(100);
    let cwd = core.work.path();
    // a wrong token is refused and nothing is saved
    let output = run(core
        .cli(cwd)
        .env_remove("PX_TOKEN")
        .args(["login", "--token", "nope"]));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("401"), "{}", text(&output));
    let saved = core.config.path().join("powerx/cli.json");
    assert!(!saved.exists());

    // from stdin
    let mut child = core
        .cli(cwd)
        .env_remove("PX_TOKEN")
        .arg("login")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", core.token).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("logged in"), "{}", text(&output));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let login: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(login["core_url"], core.url);

    // later commands use it: no --core, no token in the environment
    let output = run(core
        .cli(cwd)
        .env_remove("PX_TOKEN")
        .env_remove("PX_CORE_URL")
        .args(["status", "--json"]));
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["core"]["url"], core.url);
    assert_eq!(status["me"]["actor"], "dev");

    // a viewer can log in but is told it cannot install
    let viewer = core.token_for("val", "viewer");
    let output = run(core.cli(cwd).args(["login", "--token", &viewer]));
    assert!(output.status.success());
    assert!(
        text(&output).contains("lacks plugin:dev"),
        "{}",
        text(&output)
    );
}

#[test]
fn an_unreachable_core_exits_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["status"][..],
        &["logs", "com.example.x"][..],
        &["uninstall", "com.example.x"][..],
        &["dev", "."][..],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_px-plugin"))
            .current_dir(dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .env("PX_TOKEN", "t")
            .args(["--core", &format!("http://127.0.0.1:{port}")])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(3), "{args:?}: {}", text(&output));
        let said = text(&output);
        assert!(said.contains("is `powerx serve` running there?"), "{said}");
        assert!(said.matches("caused by").count() <= 1, "{said}");
        assert!(
            text(&output).contains("cannot reach core"),
            "{}",
            text(&output)
        );
    }
}

#[test]
fn completions_are_generated() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_px-plugin"))
            .current_dir(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success());
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(
            script.contains("uninstall") && script.contains("watch"),
            "{shell}"
        );
    }
}
