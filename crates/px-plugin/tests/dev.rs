//! `px-plugin dev --watch` end to end: a real Core, the real CLI, a real
//! python plugin made by `px-plugin new`, and file edits.

mod livecore;

use std::time::Duration;

use livecore::{LiveCore, Running, edit};

const LIMIT: Duration = Duration::from_secs(30);
const ID: &str = "com.example.hello";

#[test]
fn dev_watch_reloads_edits_rolls_back_broken_ones_and_streams_logs() {
    let core = LiveCore::start(200);
    let project = core.new_project("hello");
    let mut command = core.cli(&project);
    command.args(["dev", "--watch", "--uninstall-on-exit"]);
    let dev = Running::spawn(command);

    // v1 goes live
    let live = dev.expect("live in", LIMIT);
    assert!(live.contains("r1"), "{live}");
    assert!(live.contains("swap"), "{live}");
    core.wait_hello(ID, "hello from", LIMIT);

    // a plugin log line reaches the CLI, prefixed with its revision
    let line = dev.expect("GET /hello", LIMIT);
    assert!(line.starts_with("[r1]"), "{line}");

    // an edit goes live
    let server = project.join("server.py");
    edit(&server, "{greeting} from", "{greeting} v2 from");
    let live = dev.expect("live in", LIMIT);
    assert!(live.contains("r2"), "{live}");
    core.wait_hello(ID, "v2 from", LIMIT);

    // a broken edit is rolled back; the CLI says why; r2 keeps serving
    edit(
        &server,
        "import json",
        "import json\nraise SystemExit('broken on purpose')",
    );
    let failed = dev.expect("rolled back", LIMIT);
    assert!(failed.contains("r3"), "{failed}");
    assert!(
        failed.contains("start_failed") || failed.contains("health"),
        "{failed}"
    );
    dev.expect("broken on purpose", LIMIT);
    let (status, body) = core.hello(ID);
    assert_eq!(status, 200);
    assert!(body.contains("v2 from"), "{body}");

    // the fix goes live
    edit(&server, "\nraise SystemExit('broken on purpose')", "");
    edit(&server, "v2 from", "v4 from");
    let live = dev.expect("live in", LIMIT);
    assert!(live.contains("r4"), "{live}");
    core.wait_hello(ID, "v4 from", LIMIT);

    // a change Core refuses before staging has no revision: the line names the version
    let manifest = project.join("manifest.json");
    let needs = r#""version": "0.1.0",
  "dependencies": { "com.example.nope": "^1" },"#;
    edit(&manifest, r#""version": "0.1.0","#, needs);
    let refused = dev.expect("rejected", LIMIT);
    assert!(
        refused.contains("✗ v0.1.0 rejected: dependency_conflict"),
        "{refused}"
    );
    // undoing it is a change again (from what was last tried): r5 goes live
    edit(&manifest, needs, r#""version": "0.1.0","#);
    let live = dev.expect("live in", LIMIT);
    assert!(live.contains("r5"), "{live}");

    // a save that changes nothing, or only build outputs, does not reload
    let text = std::fs::read_to_string(&server).unwrap();
    std::fs::write(&server, text).unwrap();
    std::fs::write(project.join("dist/extra.txt"), "ignored").unwrap();
    std::thread::sleep(Duration::from_millis(800));

    // Ctrl-C: clean exit, plugin uninstalled
    let seen = dev.seen.clone();
    assert_eq!(dev.interrupt(), 0);
    let output = seen.lock().unwrap().join("\n");
    eprintln!("{output}");
    assert!(
        !output.contains("r6"),
        "an unchanged save reloaded:\n{output}"
    );
    assert!(output.contains("uninstalled com.example.hello"), "{output}");
    let (status, _) = core.get(&format!("/api/plugins/{ID}"), true);
    assert_eq!(status, 404);
}

#[test]
fn a_failed_first_build_does_not_end_the_session() {
    let core = LiveCore::start(100);
    let project = core.new_project("broken");
    let manifest = project.join("manifest.json");
    edit(
        &manifest,
        "\"version\": \"0.1.0\"",
        "\"version\": \"not semver\"",
    );
    let mut command = core.cli(&project);
    command.args(["dev", "--watch"]);
    let dev = Running::spawn(command);
    let failed = dev.expect("build failed", LIMIT);
    assert!(failed.contains("invalid"), "{failed}");
    edit(
        &manifest,
        "\"version\": \"not semver\"",
        "\"version\": \"0.1.0\"",
    );
    dev.expect("live in", LIMIT);
    core.wait_hello("com.example.broken", "hello from", LIMIT);
    assert_eq!(dev.interrupt(), 0);
}

#[test]
fn dev_json_prints_one_object_per_line() {
    let core = LiveCore::start(100);
    let project = core.new_project("jsonly");
    let mut command = core.cli(&project);
    command.args(["--json", "dev"]);
    let dev = Running::spawn(command);
    let live = dev.expect("\"kind\":\"live\"", LIMIT);
    let live: serde_json::Value = serde_json::from_str(&live).unwrap();
    assert_eq!(live["revision"], 1);
    let report = dev.expect("\"kind\":\"report\"", LIMIT);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["report"]["status"], "active");
    assert_eq!(report["report"]["install_id"], live["install_id"]);
    assert_eq!(dev.interrupt(), 0);
}

#[test]
fn a_change_during_a_build_cancels_and_restarts_it() {
    let core = LiveCore::start(100);
    let project = core.new_project("slow");
    let manifest = project.join("manifest.json");
    edit(
        &manifest,
        "\"build\": {",
        "\"build\": {\n    \"command\": \"sleep 2\",",
    );
    let mut command = core.cli(&project);
    command.args(["dev", "--watch"]);
    let dev = Running::spawn(command);
    dev.expect("r1 live in", LIMIT);

    let server = project.join("server.py");
    edit(&server, "{greeting} from", "{greeting} v2 from");
    std::thread::sleep(Duration::from_millis(700)); // the v2 build is sleeping now
    edit(&server, "v2 from", "v3 from");
    let live = dev.expect("live in", LIMIT);
    assert!(live.contains("r2"), "{live}");
    let (_, body) = core.hello("com.example.slow");
    assert!(
        body.contains("v3 from"),
        "the cancelled v2 build was installed: {body}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let seen = dev.seen.clone();
    assert_eq!(dev.interrupt(), 0);
    let output = seen.lock().unwrap().join("\n");
    assert!(!output.contains("r3"), "{output}");
}
