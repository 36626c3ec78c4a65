//! Real PowerX-shaped plugin projects (`examples/powerx/`: plugin.yaml, a
//! backend under `backend/bin/`, a Nuxt admin server under `web-admin/.output/`)
//! validate, install, run and hot reload unchanged, with the real `px-plugin`
//! against a real Core. Their binaries are the stand-ins `examples/powerx/build`
//! puts where a real build would.

mod livecore;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use livecore::{LiveCore, Running};
use serde_json::Value;

const BASE: &str = "com.example.powerx.base";
const SHOP: &str = "com.example.powerx.shop";
const SKELETON: &str = "com.example.powerx.skeleton";
const LIMIT: Duration = Duration::from_secs(30);

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/powerx")
}

/// A fresh copy of `examples/powerx/<name>` in the Core's work dir, built.
fn project(core: &LiveCore, name: &str) -> PathBuf {
    let to = core.work.path().join(name);
    copy_tree(&examples().join(name), &to);
    let built = Command::new(examples().join("build"))
        .arg(&to)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built.stderr));
    to
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        // build outputs of a run in the source tree are not part of the project
        if ["dist", "bin", "server"].contains(&name.to_str().unwrap_or_default()) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(core: &LiveCore, dir: &Path, args: &[&str]) -> Output {
    core.cli(dir).args(args).output().unwrap()
}

/// `GET path` with the token, as a browser asks for a page.
fn page(core: &LiveCore, path: &str) -> (u16, String) {
    core.get_with(path, true, &[("Accept", "text/html,application/xhtml+xml")])
}

fn json(core: &LiveCore, path: &str) -> (u16, Value) {
    let (status, body) = core.get(path, true);
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pids of this Core's processes of plugin `id` whose command line holds `needle`.
fn pids(core: &LiveCore, id: &str, needle: &str) -> Vec<i32> {
    let core_url = format!("PX_CORE_URL={}", core.url);
    let plugin = format!("PX_PLUGIN_ID={id}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .trim_start()
            .starts_with('Z')
        {
            continue;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let environ: Vec<String> = environ.split(|b| *b == 0).map(text).collect();
        let cmdline = text(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default());
        if environ.contains(&core_url) && environ.contains(&plugin) && cmdline.contains(needle) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn every_fixture_validates_with_no_error_and_no_warning() {
    let core = LiveCore::start(100);
    for (name, id) in [
        ("base-like", BASE),
        ("ecommerce-like", SHOP),
        ("skeleton-like", SKELETON),
    ] {
        let dir = project(&core, name);
        let output = run(&core, &dir, &["validate", "."]);
        let stderr = text(&output.stderr);
        assert!(output.status.success(), "{name}: {stderr}");
        assert!(
            !stderr.contains("warning") && !stderr.contains("error"),
            "{name} has warnings: {stderr}"
        );
        let listed = run(&core, &dir, &["--json", "validate", "."]);
        let report: Value = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(report["plugin_id"], id, "{report}");
    }
}

#[test]
fn the_base_like_plugin_installs_as_it_is_and_serves_api_admin_and_its_fallback() {
    let core = LiveCore::start(100);
    let dir = project(&core, "base-like");
    let output = run(&core, &dir, &["install", "."]);
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );

    // the migration ran, the gateway JWT was accepted, /api/v1 is not doubled
    let (status, body) = json(&core, &format!("/_p/{BASE}/api/v1/templates"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["templates"], serde_json::json!(["welcome", "invoice"]));
    let (status, claims) = json(&core, &format!("/_p/{BASE}/api/v1/whoami"));
    assert_eq!(status, 200, "{claims}");
    assert_eq!(claims["aud"], serde_json::json!([format!("plugin:{BASE}")]));
    assert_eq!(claims["iss"], "powerx-auth");
    // a caller without a session gets no JWT: the plugin's own auth refuses it
    let (status, body) = core.get(&format!("/_p/{BASE}/api/v1/whoami"), false);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("jwt Unauthorized"), "{body}");

    // the menu titles of web-admin/i18n came along
    let (status, detail) = json(&core, &format!("/api/plugins/{BASE}"));
    assert_eq!(status, 200, "{detail}");
    let console = &detail["manifest"]["admin"]["menus"][0];
    assert_eq!(console["title_i18n"]["zh-CN"], "基础控制台", "{console}");

    // a deep link of the admin app, answered by the admin process
    let deep = format!("/_p/{BASE}/admin/templates/crud");
    let (status, html) = page(&core, &deep);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("data-served-by=\"admin-process\""), "{html}");

    // the admin process dies: the same deep link is the static fallback's index.html
    let admin = pids(&core, BASE, "index.mjs");
    assert_eq!(admin.len(), 1, "one admin process: {admin:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(admin[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let html = eventually("the static fallback", || {
        let (status, html) = page(&core, &deep);
        (status == 200 && html.contains("data-served-by=\"static\"")).then_some(html)
    });
    assert!(html.contains("static fallback"), "{html}");
}

#[test]
fn the_ecommerce_and_skeleton_like_plugins_install_with_their_permissions() {
    let core = LiveCore::start(100);
    for (name, id, permission) in [
        (
            "ecommerce-like",
            SHOP,
            "com.example.powerx.shop:product.sku.bulk:manage",
        ),
        ("skeleton-like", SKELETON, "skeleton.templates:read"),
    ] {
        let dir = project(&core, name);
        let output = run(&core, &dir, &["install", "."]);
        assert!(output.status.success(), "{name}: {}", text(&output.stderr));
        let (status, claims) = json(&core, &format!("/_p/{id}/api/v1/whoami"));
        assert_eq!(status, 200, "{name}: {claims}");
        let (status, detail) = json(&core, &format!("/api/plugins/{id}"));
        assert_eq!(status, 200, "{detail}");
        let keys: Vec<&str> = detail["manifest"]["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["key"].as_str())
            .collect();
        assert!(keys.contains(&permission), "{name}: {keys:?}");
    }
}

#[test]
fn dev_watch_reloads_a_powerx_project_and_rolls_back_a_broken_migration() {
    let core = LiveCore::start(100);
    let dir = project(&core, "base-like");
    let dev = Running::spawn({
        let mut command = core.cli(&dir);
        command.args(["dev", "--watch", "."]);
        command
    });
    dev.expect("live in", LIMIT);
    let version = || json(&core, &format!("/_p/{BASE}/api/v1/version")).1;
    assert_eq!(version()["version"], "0.7.0");

    // plugin.yaml
    let yaml = dir.join("plugin.yaml");
    let descriptor = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(
        &yaml,
        descriptor.replace("version: 0.7.0", "version: 0.7.1"),
    )
    .unwrap();
    dev.expect("live in", LIMIT);
    eventually("0.7.1 live", || {
        (version()["version"] == "0.7.1").then_some(())
    });

    // the backend binary and the admin server's output
    for (output, comment) in [
        ("backend/bin/plugin", "# rebuilt"),
        ("web-admin/.output/server/index.mjs", "// rebuilt"),
    ] {
        let path = dir.join(output);
        let content = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{content}\n{comment}\n")).unwrap();
        dev.expect("live in", LIMIT);
    }

    // a broken migration: rolled back with its output, the old revision serves
    let descriptor = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(
        &yaml,
        descriptor
            .replace("version: 0.7.1", "version: 0.7.2")
            .replace("args: [\"setup\"]", "args: [\"setup\", \"--fail\"]"),
    )
    .unwrap();
    dev.expect("migration_failed", LIMIT);
    dev.expect("0002_template_index failed", LIMIT);
    assert_eq!(version()["version"], "0.7.1");
    dev.interrupt();
}
