//! The names PowerX's own Core sets for a plugin process (SPEC §2.3), in the
//! backend, the admin process and the migration, and `${VAR}` expansion of
//! the plugin's own `env` (SPEC §2.1a): from Core's names and the plugin's
//! config, never from Core's environment; unresolved = empty + one warning.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Core, HELLO};
use serde_json::{Value, json};

type Env = BTreeMap<String, String>;

fn env_of(pid: u32) -> Env {
    common::environ(pid).into_iter().collect()
}

/// The environment of the plugin's process whose `HELLO_ROLE` is `role`
/// (the backend has none).
fn process_env(id: &str, data: &Path, role: &str) -> Env {
    let pids = common::plugin_pids(id, data);
    pids.into_iter()
        .map(env_of)
        .find(|env| env.get("HELLO_ROLE").map_or("backend", String::as_str) == role)
        .unwrap_or_else(|| panic!("no {role} process of {id}"))
}

/// The environment the migration saw (`env -0` into the data directory).
fn migration_env(data: &Path, id: &str) -> Env {
    let file = data.join("plugins").join(id).join("data/migrate.env");
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    bytes
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .filter_map(|v| {
            let text = String::from_utf8_lossy(v);
            let (k, v) = text.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// A backend, an admin process (the same server, `HELLO_ROLE=admin`) and a
/// migration that records its environment.
fn with_admin_and_migration(m: &mut Value) {
    m["admin"]["process"] = json!({
        "entry": "python3",
        "args": ["-u", "server.py"],
        "env": { "HELLO_ROLE": "admin", "NITRO_HOST": "0.0.0.0" },
        "health": { "path": "/healthz" }
    });
    m["migrations"] = json!({
        "entry": "sh",
        "args": ["-c", "env -0 > \"$PX_PLUGIN_DATA_DIR/migrate.env\""],
    });
}

fn revision_dir(core: &Core, id: &str, revision: u64) -> PathBuf {
    core.data
        .path()
        .join("plugins")
        .join(id)
        .join("revisions")
        .join(revision.to_string())
}

#[tokio::test]
async fn the_backend_the_admin_process_and_the_migration_get_powerx_names() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", with_admin_and_migration);
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    let backend = process_env(HELLO, core.data.path(), "backend");
    let admin = process_env(HELLO, core.data.path(), "admin");
    let migration = migration_env(core.data.path(), HELLO);

    let root = std::fs::canonicalize(revision_dir(&core, HELLO, 1)).unwrap();
    let secret = backend["POWERX_SECURITY_JWT_SECRET"].clone();
    assert!(
        secret.len() >= 64 && secret.chars().all(|c| c.is_ascii_hexdigit()),
        "32+ random bytes, hex: {secret}"
    );
    for (who, env) in [
        ("backend", &backend),
        ("admin", &admin),
        ("migration", &migration),
    ] {
        let get = |k: &str| {
            env.get(k)
                .cloned()
                .unwrap_or_else(|| panic!("{who}: no {k}"))
        };
        assert_eq!(get("POWERX_PLUGIN_ID"), HELLO, "{who}");
        assert_eq!(get("POWERX_PLUGIN_VERSION"), "1.0.0", "{who}");
        let plugin_root = PathBuf::from(get("POWERX_PLUGIN_ROOT"));
        assert!(plugin_root.is_absolute(), "{who}: {plugin_root:?}");
        assert_eq!(std::fs::canonicalize(&plugin_root).unwrap(), root, "{who}");
        assert_eq!(
            PathBuf::from(get("POWERX_PLUGIN_CONFIG_DIR")),
            plugin_root.join("config"),
            "{who}"
        );
        assert_eq!(
            get("POWERX_PLUGIN_DATA_DIR"),
            get("PX_PLUGIN_DATA_DIR"),
            "{who}"
        );
        assert_eq!(get("POWERX_PROXY"), "1", "{who}");
        assert_eq!(get("POWERX_SECURITY_MODE"), "jwt", "{who}");
        assert_eq!(get("POWERX_SECURITY_JWT_SECRET"), secret, "{who}");
        assert_eq!(get("POWERX_SECURITY_CTX_HMAC_SECRET"), secret, "{who}");
        assert_eq!(get("POWERX_SECURITY_JWT_ISSUER"), "powerx-auth", "{who}");
        assert_eq!(
            get("POWERX_SECURITY_JWT_AUDIENCE"),
            format!("plugin:{HELLO}"),
            "{who}"
        );
        assert_eq!(get("POWERX_SECURITY_JWT_SCOPE"), "access", "{who}");
        assert_eq!(get("PX_GATEWAY_BASE_URL"), core.url, "{who}");
    }
    for env in [&backend, &admin] {
        assert_eq!(
            env["POWERX_HTTP_ADDR"],
            format!("127.0.0.1:{}", env["PORT"])
        );
    }
    assert_ne!(backend["PORT"], admin["PORT"]);
    for name in ["PORT", "PX_PLUGIN_PORT", "POWERX_HTTP_ADDR"] {
        assert!(!migration.contains_key(name), "the migration has no {name}");
    }
    // the admin process alone, its own env first
    assert_eq!(admin["POWERX_ADMIN_BASE"], format!("/_p/{HELLO}/admin/"));
    assert_eq!(admin["NODE_ENV"], "production");
    assert_eq!(admin["NITRO_HOST"], "0.0.0.0", "the admin env wins");
    for name in ["POWERX_ADMIN_BASE", "NODE_ENV", "NITRO_HOST"] {
        assert!(!backend.contains_key(name), "the backend has no {name}");
    }

    // a new revision: its own root, the same secret (the old one drains with it)
    let dir = core.plugin("hello", HELLO, "1.0.1", with_admin_and_migration);
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let mut next = Env::new();
    common::eventually(
        "the new revision alone",
        std::time::Duration::from_secs(10),
        || {
            let envs: Vec<Env> = common::plugin_pids(HELLO, core.data.path())
                .into_iter()
                .map(env_of)
                .collect();
            let done = envs.len() == 2 && envs.iter().all(|e| e["PX_PLUGIN_REVISION"] == "2");
            if done {
                next = envs.into_iter().next().unwrap();
            }
            done
        },
    )
    .await;
    assert_eq!(next["POWERX_PLUGIN_VERSION"], "1.0.1");
    assert_eq!(
        std::fs::canonicalize(&next["POWERX_PLUGIN_ROOT"]).unwrap(),
        std::fs::canonicalize(revision_dir(&core, HELLO, 2)).unwrap()
    );
    assert_eq!(next["POWERX_SECURITY_JWT_SECRET"], secret);

    // another plugin: a secret of its own
    let other = core.plugin("other", "com.example.other", "1.0.0", |_| {});
    assert_eq!(core.install_dir(&other).await.0, 200);
    let other = process_env("com.example.other", core.data.path(), "backend");
    assert_ne!(other["POWERX_SECURITY_JWT_SECRET"], secret);
    assert_eq!(
        other["POWERX_SECURITY_JWT_AUDIENCE"],
        "plugin:com.example.other"
    );
    core.stop().await;
}

#[tokio::test]
async fn runtime_env_is_expanded_from_cores_names_and_the_config_only() {
    // cargo sets both for this test process, which is Core's
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    assert!(std::env::var("CARGO_PKG_NAME").is_ok());
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |m| {
        m["config"] = json!({"greeting": "hi", "limit": 5, "nested": {"x": 1}});
        m["runtime"]["env"] = json!({
            "WHOLE": "${POWERX_PLUGIN_ID}",
            "DEFAULTED": "${NOT_SET_ANYWHERE:-fallback}",
            "EMBEDDED": "${API_BASE:-/api/v1}/notes",
            "EMPTY_DEFAULT": "${NOT_SET_ANYWHERE:-}",
            "FROM_CONFIG": "${greeting}, ${limit} at ${PX_PLUGIN_BASE_PATH}",
            "NOT_A_STRING": "${nested:-objects are not values}",
            "A_FIRST": "a",
            "B_SECOND": "${A_FIRST}-b",
            "C_LATER_REF": "${Z_LATER:-raw default}",
            "Z_LATER": "z",
            "NO_LEAK": "${CARGO_MANIFEST_DIR:-not core's}",
            "UNRESOLVED": "[${CARGO_PKG_NAME}]",
            "POWERX_BIND_ADDR": ":__POWERX_DYNAMIC_PORT__",
            "POWERX_HTTP_ADDR": "__PX_DYNAMIC_PORT__",
            "LOOPBACK": "127.0.0.1:__PX_DYNAMIC_PORT__",
            "DOLLARS": "pa$$word $HOME ${}",
        });
    });
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    let env = process_env(HELLO, core.data.path(), "backend");
    let port = env["PORT"].clone();
    let expected = [
        ("WHOLE", HELLO.to_owned()),
        ("DEFAULTED", "fallback".to_owned()),
        ("EMBEDDED", "/api/v1/notes".to_owned()),
        ("EMPTY_DEFAULT", String::new()),
        ("FROM_CONFIG", format!("hi, 5 at /_p/{HELLO}")),
        ("NOT_A_STRING", "objects are not values".to_owned()),
        ("B_SECOND", "a-b".to_owned()),
        ("C_LATER_REF", "raw default".to_owned()),
        ("NO_LEAK", "not core's".to_owned()),
        ("UNRESOLVED", "[]".to_owned()),
        ("POWERX_BIND_ADDR", format!(":{port}")),
        ("POWERX_HTTP_ADDR", format!("127.0.0.1:{port}")),
        ("LOOPBACK", format!("127.0.0.1:{port}")),
        ("DOLLARS", "pa$$word $HOME ${}".to_owned()),
    ];
    for (key, value) in expected {
        assert_eq!(env.get(key), Some(&value), "{key}");
    }
    for key in env.keys() {
        assert!(!key.starts_with("CARGO_"), "{key} leaked from Core");
    }

    // one warning for the one reference without a value or default
    let (_, logs) = core
        .get(&format!("/api/plugins/{HELLO}/logs?tail=1000"))
        .await;
    let warnings: Vec<&Value> = logs["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["level"] == "warn" && m["message"].as_str().unwrap().contains("${"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let message = warnings[0]["message"].as_str().unwrap();
    assert!(
        message.contains("UNRESOLVED") && message.contains("CARGO_PKG_NAME"),
        "{message}"
    );
    assert_eq!(warnings[0]["revision"], 1);
    core.stop().await;
}
