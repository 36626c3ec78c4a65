//! Hot reloads under load, serialization, refusals, uninstall, the proxy's
//! header rules and the plugin environment.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Core, HELLO, Options};
use px_api::ReasonCode;

#[tokio::test]
async fn no_request_fails_during_twenty_reloads() {
    let core = Arc::new(
        Core::start_with(Options {
            probation_ms: 50,
            ..Default::default()
        })
        .await,
    );
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (core, stop, ok) = (core.clone(), stop.clone(), ok.clone());
        clients.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let url = format!("{}/_p/{HELLO}/api/hello", core.url);
                match core.client.get(&url).send().await {
                    Ok(response) if response.status() == 200 => {
                        response.bytes().await.unwrap();
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(response) => failures.push(format!("status {}", response.status())),
                    Err(error) => failures.push(error.to_string()),
                }
            }
            failures
        }));
    }
    for n in 0..20 {
        let dir = core.plugin("hello", HELLO, &format!("1.0.{}", n + 1), |_| {});
        let (status, report) = core.install_dir(&dir).await;
        assert_eq!(status, 200, "{report:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for client in clients {
        failures.extend(client.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        ok.load(Ordering::Relaxed) > 100,
        "too few requests to mean anything"
    );
    let (_, body) = core.proxy(HELLO, "/hello").await;
    assert_eq!(body["version"], "1.0.20");
    // old revisions are pruned: the stable one and a few recent stay
    let kept = std::fs::read_dir(
        core.data
            .path()
            .join("plugins")
            .join(HELLO)
            .join("revisions"),
    )
    .unwrap()
    .count();
    assert!(kept <= 4, "{kept} revisions kept");
    // every old process was stopped
    common::eventually("old processes to stop", Duration::from_secs(10), || {
        common::plugin_pids(HELLO, core.data.path()).len() == 1
    })
    .await;
}

#[tokio::test]
async fn installs_of_one_plugin_are_serialized_and_of_different_plugins_parallel() {
    let core = Arc::new(
        Core::start_with(Options {
            probation_ms: 800,
            ..Default::default()
        })
        .await,
    );
    let a1 = core.plugin("a1", "com.example.a", "1.0.0", |_| {});
    let a2 = core.plugin("a2", "com.example.a", "2.0.0", |_| {});
    let started = Instant::now();
    let (r1, r2) = tokio::join!(core.install_dir(&a1), core.install_dir(&a2));
    let same = started.elapsed();
    assert_eq!((r1.0, r2.0), (200, 200));
    let mut revisions = [r1.1.revision.unwrap(), r2.1.revision.unwrap()];
    revisions.sort_unstable();
    assert_eq!(revisions, [1, 2]);
    assert!(
        same >= Duration::from_millis(1_600),
        "one plugin's installs overlapped: {same:?}"
    );

    let b = core.plugin("b", "com.example.b", "1.0.0", |_| {});
    let c = core.plugin("c", "com.example.c", "1.0.0", |_| {});
    let started = Instant::now();
    let (rb, rc) = tokio::join!(core.install_dir(&b), core.install_dir(&c));
    let different = started.elapsed();
    assert_eq!((rb.0, rc.0), (200, 200));
    assert!(
        different < Duration::from_millis(1_500),
        "different plugins did not install in parallel: {different:?}"
    );
}

#[tokio::test]
async fn directories_outside_allowed_dirs_are_refused() {
    let core = Core::start().await;
    let outside = tempfile::tempdir().unwrap();
    let dir = outside.path().join("hello");
    common::write_plugin(&dir, HELLO, "1.0.0", |_| {});
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 400);
    assert_eq!(report.reason.unwrap().code, ReasonCode::BadRequest);

    // both temporary directories are siblings: climb out of the allowed one
    let dotdot = core
        .work
        .path()
        .join("..")
        .join(outside.path().file_name().unwrap())
        .join("hello");
    assert!(dotdot.join("manifest.json").exists());
    let (status, _) = core.install_dir(&dotdot).await;
    assert_eq!(status, 400, "escaped through ..");

    let link = core.work.path().join("link");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    let (status, _) = core.install_dir(&link).await;
    assert_eq!(status, 400, "escaped through a symlinked directory");

    let inner = core.plugin("inner", HELLO, "1.0.0", |_| {});
    std::os::unix::fs::symlink("/etc/passwd", inner.join("passwd")).unwrap();
    let (status, report) = core.install_dir(&inner).await;
    assert_eq!(
        status, 400,
        "copied a symlink that leaves the directory: {report:?}"
    );
    assert_eq!(core.proxy(HELLO, "/hello").await.0, 404);
}

#[tokio::test]
async fn hostile_bundles_are_refused() {
    let core = Core::start_with(Options {
        max_bundle_bytes: 64 * 1024,
        ..Default::default()
    })
    .await;
    let (status, report) = core.install_pxp(b"not a bundle at all".to_vec()).await;
    assert_eq!(status, 422, "{report:?}");
    assert_eq!(report.reason.unwrap().code, ReasonCode::BundleInvalid);

    let (status, _) = core.install_pxp(vec![0u8; 65 * 1024]).await;
    assert_eq!(status, 413);

    // a tar whose second entry climbs out of the staging directory
    let mut tar = tar::Builder::new(Vec::new());
    let manifest = br#"{"manifest_version":1}"#;
    let mut header = tar::Header::new_gnu();
    header.set_path("manifest.json").unwrap();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append(&header, &manifest[..]).unwrap();
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..7].copy_from_slice(b"../evil");
    header.set_size(4);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append(&header, &b"evil"[..]).unwrap();
    let bytes = zstd::encode_all(&tar.into_inner().unwrap()[..], 3).unwrap();
    let (status, report) = core.install_pxp(bytes).await;
    assert_eq!(status, 422, "{report:?}");
    assert!(!core.data.path().join("staging/evil").exists());
    assert!(!core.data.path().join("evil").exists());
    // nothing half-staged is left
    assert_eq!(
        std::fs::read_dir(core.data.path().join("staging"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn uninstall_leaves_no_route_process_or_files() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    assert_eq!(common::plugin_pids(HELLO, core.data.path()).len(), 1);
    let url = format!("{}/api/plugins/dev/install?plugin_id={HELLO}", core.url);
    let response = core.authed(core.client.delete(&url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(core.proxy(HELLO, "/hello").await.0, 404);
    assert_eq!(core.get(&format!("/api/plugins/{HELLO}")).await.0, 404);
    assert!(!core.data.path().join("plugins").join(HELLO).exists());
    assert!(common::plugin_pids(HELLO, core.data.path()).is_empty());
    let response = core
        .authed(
            core.client
                .delete(format!("{}/api/plugins/dev/install", core.url)),
        )
        .json(&serde_json::json!({"plugin_id": HELLO}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_plugin_environment_holds_nothing_of_cores() {
    let core = Core::start().await;
    // the interpreter itself, not a wrapper (a pyenv shim is a shell script
    // that adds PWD and PYENV_* before exec'ing python)
    let python = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8(python.stdout).unwrap().trim().to_owned();
    let dir = core.plugin("hello", HELLO, "1.0.0", |m| {
        m["runtime"]["entry"] = python.into();
        m["runtime"]["env"] = serde_json::json!({
            "EXTRA": "1",
            // expansion reads Core's names, never Core's environment
            "EXPANDED": "${CARGO_MANIFEST_DIR:-}${PX_PLUGIN_ID}",
        });
        m["dependencies"] = serde_json::json!({});
    });
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let pid = common::plugin_pids(HELLO, core.data.path())[0];
    let env = common::environ(pid);
    let allowed = [
        "PATH",
        "HOME",
        "LANG",
        "TZ",
        "PORT",
        "PX_PLUGIN_PORT",
        "PX_PLUGIN_ID",
        "PX_PLUGIN_VERSION",
        "PX_PLUGIN_REVISION",
        "PX_PLUGIN_BASE_PATH",
        "PX_CORE_URL",
        "PX_PLUGIN_TOKEN",
        "PX_PLUGIN_DATA_DIR",
        "PX_PLUGIN_CONFIG",
        "POWERX_HTTP_ADDR",
        "POWERX_PLUGIN_ID",
        "POWERX_PLUGIN_VERSION",
        "POWERX_PLUGIN_ROOT",
        "POWERX_PLUGIN_CONFIG_DIR",
        "POWERX_PLUGIN_DATA_DIR",
        "POWERX_PROXY",
        "POWERX_SECURITY_MODE",
        "POWERX_SECURITY_JWT_SECRET",
        "POWERX_SECURITY_JWT_ISSUER",
        "POWERX_SECURITY_JWT_AUDIENCE",
        "POWERX_SECURITY_JWT_SCOPE",
        "POWERX_SECURITY_CTX_HMAC_SECRET",
        "PX_GATEWAY_BASE_URL",
        "EXTRA",
        "EXPANDED",
    ];
    for (key, _) in &env {
        assert!(
            allowed.contains(&key.as_str()),
            "{key} leaked into the plugin environment"
        );
    }
    // cargo sets this for the test process (Core's process); the plugin must not see it
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    let get = |k: &str| {
        env.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(get("PX_PLUGIN_BASE_PATH"), format!("/_p/{HELLO}"));
    assert_eq!(get("PX_CORE_URL"), core.url);
    assert_eq!(get("PORT"), get("PX_PLUGIN_PORT"));
    assert!(get("PX_PLUGIN_TOKEN").starts_with("pxt_"));
    let config: serde_json::Value = serde_json::from_str(&get("PX_PLUGIN_CONFIG")).unwrap();
    assert_eq!(config["greeting"], "hello");
    assert!(get("PX_PLUGIN_DATA_DIR").ends_with(&format!("plugins/{HELLO}/data")));
    assert_eq!(get("EXPANDED"), HELLO);
    // the gateway secret is the plugin's own, not one of Core's
    let secret = get("POWERX_SECURITY_JWT_SECRET");
    assert_eq!(secret.len(), 64);
    assert_ne!(secret, get("PX_PLUGIN_TOKEN"));
    for (_, value) in std::env::vars() {
        assert!(
            !value.contains(&secret),
            "the secret is in Core's environment"
        );
    }
}

#[tokio::test]
async fn the_proxy_strips_credentials_and_streams_bodies() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let response = core
        .client
        .get(format!("{}/_p/{HELLO}/api/headers?x=1", core.url))
        .header("authorization", "Bearer secret")
        .header("cookie", "session=secret")
        .header("x-px-user", "root")
        .header("x-px-permissions", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen: serde_json::Value = response.json().await.unwrap();
    for gone in ["authorization", "cookie", "x-px-user", "x-px-permissions"] {
        assert!(
            seen.get(gone).is_none(),
            "{gone} reached the plugin: {seen}"
        );
    }
    assert_eq!(seen["x-forwarded-prefix"], format!("/_p/{HELLO}/api"));
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");

    // a signed-in caller: Core says who it is, whatever the caller claimed
    let response = core
        .authed(
            core.client
                .get(format!("{}/_p/{HELLO}/api/headers", core.url)),
        )
        .header("x-px-user", "root")
        .send()
        .await
        .unwrap();
    let seen: serde_json::Value = response.json().await.unwrap();
    assert_eq!(seen["x-px-user"], "dev", "{seen}");
    assert_eq!(seen["x-px-permissions"], "*", "{seen}");
    // its own token stays with Core; the plugin gets Core's gateway JWT
    // (tests/gateway_jwt.rs verifies it)
    let authorization = seen["authorization"].as_str().unwrap();
    assert!(authorization.starts_with("Bearer ey"), "{seen}");
    assert!(!authorization.contains(&core.token), "{seen}");

    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let response = core
        .client
        .post(format!("{}/_p/{HELLO}/api/echo", core.url))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &body[..]);

    assert_eq!(core.proxy("com.example.nobody", "/hello").await.0, 404);
    let (status, body) = core.proxy("com.example.nobody", "/hello").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn an_install_finishes_when_its_client_goes_away() {
    let core = Core::start_with(Options {
        probation_ms: 1_500,
        ..Options::default()
    })
    .await;
    let v1 = core.plugin("v1", HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&v1).await.0, 200);
    let v2 = core.plugin("v2", HELLO, "2.0.0", |_| {});
    // the client gives up during probation, as Ctrl-C in `px-plugin dev` does
    let body = serde_json::json!({"source": {"kind": "dir", "path": v2}});
    let gave_up = core
        .authed(
            core.client
                .post(format!("{}/api/plugins/dev/install", core.url)),
        )
        .json(&body)
        .timeout(Duration::from_millis(800))
        .send()
        .await;
    assert!(
        gave_up.is_err(),
        "the client should time out during probation"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, detail) = core.get(&format!("/api/plugins/{HELLO}")).await;
        if detail["stable_revision"] == 2 && detail["state"] == "active" {
            assert_eq!(detail["version"], "2.0.0", "{detail}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "revision 2 never became stable: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, audit) = core
        .get(&format!("/api/audit?plugin_id={HELLO}&action=reload"))
        .await;
    assert_eq!(audit["entries"][0]["result"], "success", "{audit}");
}
