//! The PowerX-shaped plugin directories of `tests/ui` (`powerx-notebook`:
//! PluginBase-like, `powerx-shop`: ECommerce-like, `powerx-starter`:
//! skeleton-like with `plugin.d/` catalogs) read into the model with PowerX's
//! meaning, and without a directory what cannot be read is said.

use std::fs;
use std::path::{Path, PathBuf};

use px_manifest::{Manifest, RuntimeKind, Severity, load_dir, parse_plugin_yaml};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/ui")
        .join(name)
}

fn load(name: &str) -> Manifest {
    let loaded = load_dir(&fixture(name)).unwrap_or_else(|error| panic!("{name}: {error:?}"));
    assert!(
        loaded
            .warnings
            .iter()
            .all(|d| d.severity == Severity::Warning),
        "{name}: {:?}",
        loaded.warnings
    );
    loaded.manifest
}

#[test]
fn plugin_base_like_reads_menus_policies_i18n_and_health() {
    let manifest = load("powerx-notebook");
    assert_eq!(manifest.requires.unwrap().corex.as_deref(), Some(">=0.6.0"));
    let health = &manifest.runtime.health;
    assert_eq!(
        (
            health.timeout_ms,
            health.probe_timeout_ms,
            health.interval_ms
        ),
        (30_000, Some(3_000), 10_000)
    );
    assert_eq!(manifest.runtime.env["POWERX_PROXY"], "1");
    assert_eq!(
        manifest.runtime.env["POWERX_BIND_ADDR"],
        "${POWERX_BIND_ADDR:-:8086}"
    );
    let admin = manifest.admin.unwrap();
    let process = admin.process.unwrap();
    assert_eq!(process.entry, "node");
    assert_eq!(process.health.probe_timeout_ms, Some(2_000));
    let root = &admin.menus[0];
    assert_eq!(root.title, "Notebook");
    assert_eq!(root.title_i18n["zh-CN"], "笔记本");
    let ids: Vec<&str> = root.walk().iter().map(|menu| menu.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "plugins.notebook",
            "plugins.notebook.intro",
            "plugins.notebook.notes",
            "plugins.notebook.notes.archive",
            "plugins.notebook.templates"
        ]
    );
    let archive = &root.children[1].children[0];
    assert_eq!(archive.path, "/notes/archive");
    assert_eq!(
        archive.permission,
        ["notebook:note:read", "notebook:note:archive"]
    );
    // no title, no default: the default locale (zh-CN) has no text, en has
    assert_eq!(archive.title, "Archive");
    assert!(!archive.title_i18n.contains_key("zh-CN"));
    // rbac and permissions declare the same keys: one permission each
    let keys: Vec<&str> = manifest
        .permissions
        .iter()
        .map(|p| p.key.as_str())
        .collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
    assert!(keys.contains(&"operations.plugin.admin:read"));
}

#[test]
fn ecommerce_like_reads_a_large_rbac_and_three_menu_levels() {
    let manifest = load("powerx-shop");
    assert!(manifest.dependencies.is_empty());
    assert_eq!(manifest.permissions.len(), 36);
    let admin = manifest.admin.unwrap();
    assert!(admin.process.is_none());
    let skus = &admin.menus[0].children[0].children[0];
    assert_eq!(
        skus.permission,
        [
            "com.example.plugins.shop:catalog.sku:read",
            "com.example.plugins.shop:catalog.sku.bulk:manage"
        ]
    );
    // i18n from <static_dir>/i18n/<locale>.json
    assert_eq!(skus.title_i18n["zh-CN"], "规格");
    assert_eq!(admin.menus[0].title, "Shop console");
}

#[test]
fn skeleton_like_merges_catalogs_and_runs_a_nuxt_admin() {
    let manifest = load("powerx-starter");
    let keys: Vec<&str> = manifest
        .permissions
        .iter()
        .map(|p| p.key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "starter:lab:read",
            "starter:lab:run",
            "starter.settings:read"
        ]
    );
    assert_eq!(
        manifest.dependencies["com.example.plugins.notebook"],
        ">=0.2.0"
    );
    assert_eq!(manifest.dependencies["com.example.plugins.shop"], "*");
    let admin = manifest.admin.unwrap();
    let process = admin.process.unwrap();
    assert_eq!(
        (process.entry.as_str(), process.args.as_slice()),
        (
            "node",
            ["web-admin/.output/server/index.mjs".to_owned()].as_slice()
        )
    );
    assert_eq!(admin.menus[0].children[0].permission.len(), 2);
    assert_eq!(manifest.runtime.kind, RuntimeKind::Process);
}

#[test]
fn without_a_directory_catalogs_are_not_read_and_say_so() {
    let text = fs::read_to_string(fixture("powerx-starter/plugin.yaml")).unwrap();
    let loaded = parse_plugin_yaml(&text, Path::new("plugin.yaml"), None).unwrap();
    let catalogs = loaded
        .warnings
        .iter()
        .find(|d| d.pointer == "/catalogs")
        .expect("a warning about catalogs");
    assert!(catalogs.message.contains("not read"), "{catalogs:?}");
    // the policies are then undeclared: each one says how to fix it
    assert!(loaded.manifest.permissions.is_empty());
    assert!(loaded.warnings.iter().any(|d| {
        d.message
            .contains("declare it under rbac.resources or permissions")
    }));
}

#[test]
fn a_legacy_backend_block_is_the_runtime_when_runtime_has_no_entry() {
    let text = "id: com.example.old\nname: Old\nversion: 0.1.0\nbackend:\n  entry: backend/bin/plugin\n  port: 8091\n  health: /health\nruntime:\n  kind: process\n";
    let loaded = parse_plugin_yaml(text, Path::new("plugin.yaml"), None).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let runtime = &loaded.manifest.runtime;
    assert_eq!(runtime.entry.as_deref(), Some("backend/bin/plugin"));
    assert_eq!(runtime.health.path, "/health");
    assert_eq!(runtime.health.timeout_ms, 30_000);
}
