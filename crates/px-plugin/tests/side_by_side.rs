//! A newcomer's first plugins: the Rust template installs (its entry is a
//! bare file name in `dist/`), and two plugins made from templates install
//! side by side although both name their menu `home` (menu ids are scoped
//! to their plugin).

mod livecore;

use std::process::Output;
use std::time::Duration;

use livecore::LiveCore;

fn install(core: &LiveCore, dir: &std::path::Path) -> Output {
    core.cli(dir.parent().unwrap())
        .args(["install", dir.file_name().unwrap().to_str().unwrap()])
        .output()
        .unwrap()
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_rust_template_and_a_python_one_install_side_by_side() {
    let core = LiveCore::start(100);
    let rust = core.new_from("hello-rs", "rust");
    let python = core.new_from("hello-py", "python");
    // probe the Rust plugin often, so its log shows how it takes Core's probes
    let manifest = rust.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let often = text.replace(
        r#""timeout_ms": 15000"#,
        r#""timeout_ms": 15000, "interval_ms": 50"#,
    );
    assert_ne!(text, often, "the template's health section changed");
    std::fs::write(&manifest, often).unwrap();

    let installed = install(&core, &rust);
    assert!(installed.status.success(), "{}", said(&installed));
    core.wait_hello(
        "com.example.hello-rs",
        "hello from com.example.hello-rs",
        Duration::from_secs(10),
    );

    let installed = install(&core, &python);
    assert!(installed.status.success(), "{}", said(&installed));
    core.wait_hello("com.example.hello-py", "hello", Duration::from_secs(10));
    // the first one still serves
    let (status, _) = core.hello("com.example.hello-rs");
    assert_eq!(status, 200);
    // and Core's health probes (every 50 ms meanwhile) left no noise in its log
    std::thread::sleep(Duration::from_millis(500));
    let (status, logs) = core.get("/api/plugins/com.example.hello-rs/logs?tail=500", true);
    assert_eq!(status, 200, "{logs}");
    assert!(logs.contains("listening on"), "{logs}");
    for noise in ["Broken pipe", "Connection reset", "request failed"] {
        assert!(!logs.contains(noise), "{noise}: {logs}");
    }
}
