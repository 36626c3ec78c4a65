//! Audit rows (SPEC §3.6) written by a real Core for each dev action, login
//! and denied attempt, and `GET /api/audit` with its filters and paging.

mod common;

use common::{Core, HELLO, Options};
use px_api::{InstallStatus, ReasonCode};
use px_core::store::audit::{AuditAction, AuditEntry, AuditResult};
use serde_json::{Value, json};

const ALLOWED_IDS: &str = "com.example.*";

/// Adds a user with a password and returns a token for it.
async fn user(core: &Core, name: &str, role: &str) -> String {
    let store = store(core).await;
    store
        .add_user(name, role, Some(&format!("{name}-pass")))
        .await
        .unwrap();
    store.create_user_token(name, "audit").await.unwrap()
}

async fn store(core: &Core) -> px_core::Store {
    let config = px_core::Config::new(core.data.path());
    px_core::Store::connect(&config.database_url())
        .await
        .unwrap()
}

/// `GET /api/audit?<query>` as the admin; the page's rows and `next_offset`.
async fn audit(core: &Core, query: &str) -> (Vec<Value>, Value) {
    let (status, page) = core.get(&format!("/api/audit?{query}")).await;
    assert_eq!(status, 200, "{page}");
    (
        page["entries"].as_array().unwrap().clone(),
        page["next_offset"].clone(),
    )
}

/// The newest row with this action (and plugin, when given).
async fn newest(core: &Core, action: &str, plugin: Option<&str>) -> Value {
    let mut query = format!("action={action}&limit=1");
    if let Some(plugin) = plugin {
        query.push_str(&format!("&plugin_id={plugin}"));
    }
    let (rows, _) = audit(core, &query).await;
    rows.into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {action} row"))
}

/// Checks the fields every row must carry and that `expected` holds.
fn check(row: &Value, expected: Value) {
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&row[key], value, "{key} of {row:#}");
    }
    assert_eq!(row["remote_addr"], "127.0.0.1", "{row:#}");
    assert!(row["at"].as_i64().unwrap() > 0);
    assert!(!row["id"].as_str().unwrap().is_empty());
}

async fn send(
    core: &Core,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = core
        .client
        .request(method.parse().unwrap(), format!("{}{path}", core.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_dev_action_login_and_denial_leaves_its_row() {
    let core = Core::start_configured(
        Options {
            probation_ms: 0,
            ..Options::default()
        },
        |config| config.policy.dev.plugin_ids = vec![ALLOWED_IDS.to_owned()],
    )
    .await;
    let devon = user(&core, "devon", "plugin-developer").await;
    let vera = user(&core, "vera", "viewer").await;
    let install = |dir: std::path::PathBuf, token: String| {
        let core = &core;
        async move {
            let body = json!({"source": {"kind": "dir", "path": dir}});
            let (status, report) = send(
                core,
                "POST",
                "/api/plugins/dev/install",
                Some(&token),
                Some(body),
            )
            .await;
            (
                status,
                serde_json::from_value::<px_api::InstallReport>(report).unwrap(),
            )
        }
    };

    // install
    let v1 = core.plugin("hello", HELLO, "1.0.0", |_| {});
    let (status, first) = install(v1, devon.clone()).await;
    assert_eq!(status, 200, "{first:?}");
    let row = newest(&core, "install", Some(HELLO)).await;
    check(
        &row,
        json!({"actor": "devon", "plugin_id": HELLO, "version": "1.0.0", "revision": 1,
               "install_id": first.install_id, "result": "success", "reason": null}),
    );

    // reload
    let v2 = core.plugin("hello", HELLO, "2.0.0", |_| {});
    let (status, second) = install(v2, devon.clone()).await;
    assert_eq!(status, 200, "{second:?}");
    check(
        &newest(&core, "reload", Some(HELLO)).await,
        json!({"actor": "devon", "plugin_id": HELLO, "version": "2.0.0", "revision": 2,
               "install_id": second.install_id, "result": "success", "reason": null}),
    );

    // a reload that fails leaves a failure row with the reason
    let bad = core.plugin("hello", HELLO, "not-a-version", |_| {});
    let (status, failed) = install(bad, devon.clone()).await;
    assert_eq!(status, 422, "{failed:?}");
    let row = newest(&core, "install", Some(HELLO)).await;
    check(
        &row,
        json!({"actor": "devon", "plugin_id": HELLO, "install_id": failed.install_id,
               "result": "failure"}),
    );
    assert!(
        row["reason"]
            .as_str()
            .unwrap()
            .starts_with("manifest_invalid: "),
        "{row:#}"
    );

    // rollback
    let (status, back) = send(
        &core,
        "POST",
        &format!("/api/plugins/{HELLO}/rollback"),
        Some(&devon),
        Some(json!({"revision": 1})),
    )
    .await;
    assert_eq!(status, 200, "{back}");
    check(
        &newest(&core, "rollback", Some(HELLO)).await,
        json!({"actor": "devon", "plugin_id": HELLO, "version": "1.0.0", "revision": 1,
               "install_id": back["install_id"], "result": "success"}),
    );

    // denied: a viewer tries the dev API (403), nobody tries without a token (401)
    let (status, _) = send(
        &core,
        "POST",
        &format!("/api/plugins/{HELLO}/rollback"),
        Some(&vera),
        None,
    )
    .await;
    assert_eq!(status, 403);
    check(
        &newest(&core, "denied", Some(HELLO)).await,
        json!({"actor": "vera", "plugin_id": HELLO, "result": "denied",
               "reason": format!("403 POST /api/plugins/{HELLO}/rollback")}),
    );
    let (status, _) = send(
        &core,
        "DELETE",
        &format!("/api/plugins/dev/install?plugin_id={HELLO}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);
    check(
        &newest(&core, "denied", Some(HELLO)).await,
        json!({"actor": "anonymous", "plugin_id": HELLO, "result": "denied",
               "reason": "401 DELETE /api/plugins/dev/install"}),
    );

    // denied by the policy's dev.plugin_ids: 403, an install report, one audit row
    let (before, _) = audit(&core, "action=denied&limit=1000").await;
    let outside = core.plugin("evil", "org.evil.plugin", "6.6.6", |_| {});
    let (status, refused) = install(outside, devon.clone()).await;
    assert_eq!(status, 403, "{refused:?}");
    assert_eq!(refused.status, InstallStatus::Rejected);
    let reason = refused.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::Forbidden);
    assert!(
        reason.message.contains("dev.plugin_ids"),
        "{}",
        reason.message
    );
    let (after, _) = audit(&core, "action=denied&limit=1000").await;
    assert_eq!(after.len(), before.len() + 1, "exactly one row: {after:#?}");
    check(
        &after[0],
        json!({"actor": "devon", "action": "denied", "plugin_id": "org.evil.plugin",
               "version": "6.6.6", "install_id": refused.install_id, "result": "denied",
               "revision": null}),
    );
    assert!(
        after[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("forbidden: ")
    );
    assert_eq!(core.get("/api/plugins/org.evil.plugin").await.0, 404);
    let text = core
        .client
        .get(format!("{}/metrics", core.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("plugin_dev_install_total{result=\"failure\"} 1\n"),
        "a refusal by policy is not an install failure:\n{text}"
    );

    // uninstall
    let (status, _) = send(
        &core,
        "DELETE",
        "/api/plugins/dev/install",
        Some(&devon),
        Some(json!({"plugin_id": HELLO})),
    )
    .await;
    assert_eq!(status, 200);
    check(
        &newest(&core, "uninstall", Some(HELLO)).await,
        json!({"actor": "devon", "plugin_id": HELLO, "version": "1.0.0", "revision": 1,
               "result": "success"}),
    );

    // login: success and failure
    let (status, _) = send(
        &core,
        "POST",
        "/api/login",
        None,
        Some(json!({"name": "devon", "password": "devon-pass"})),
    )
    .await;
    assert_eq!(status, 200);
    check(
        &newest(&core, "login", None).await,
        json!({"actor": "devon", "result": "success", "reason": null, "plugin_id": null}),
    );
    let (status, _) = send(
        &core,
        "POST",
        "/api/login",
        None,
        Some(json!({"name": "devon", "password": "guess"})),
    )
    .await;
    assert_eq!(status, 401);
    check(
        &newest(&core, "login", None).await,
        json!({"actor": "devon", "result": "failure", "reason": "wrong name or password"}),
    );
}

#[tokio::test]
async fn the_audit_api_filters_and_pages() {
    let core = Core::start().await;
    let store = store(&core).await;
    // 12 rows at known times: 3 actors × 2 plugins × 2 results, one action each
    // recent enough that retention pruning (7 days) leaves them alone
    let base = px_core::store::now_ms() - 3_600_000;
    let mut inserted = Vec::new();
    for i in 0..12_i64 {
        let action = if i % 4 == 0 {
            AuditAction::Rollback
        } else {
            AuditAction::Install
        };
        let result = if i < 6 {
            AuditResult::Success
        } else {
            AuditResult::Failure
        };
        let entry = AuditEntry {
            at: base + i * 1_000,
            plugin_id: Some(format!("com.paging.p{}", i % 2)),
            remote_addr: Some("10.0.0.1".to_owned()),
            ..AuditEntry::new(format!("actor{}", i % 3), action, result)
        };
        store.audit_insert(entry.clone()).await.unwrap();
        inserted.push(entry);
    }
    let range = format!("since={base}&until={}", base + 12_000);
    let ats =
        |rows: &[Value]| -> Vec<i64> { rows.iter().map(|r| r["at"].as_i64().unwrap()).collect() };
    let expect = |keep: &dyn Fn(&AuditEntry) -> bool| -> Vec<i64> {
        let mut at: Vec<i64> = inserted.iter().filter(|e| keep(e)).map(|e| e.at).collect();
        at.reverse(); // newest first
        at
    };

    let (rows, next) = audit(&core, &range).await;
    assert_eq!(ats(&rows), expect(&|_| true));
    assert_eq!(next, Value::Null);
    let (rows, _) = audit(&core, &format!("{range}&plugin_id=com.paging.p1")).await;
    assert_eq!(
        ats(&rows),
        expect(&|e| e.plugin_id.as_deref() == Some("com.paging.p1"))
    );
    let (rows, _) = audit(&core, "actor=actor2").await;
    assert_eq!(ats(&rows), expect(&|e| e.actor == "actor2"));
    let (rows, _) = audit(&core, &format!("{range}&action=rollback")).await;
    assert_eq!(ats(&rows), expect(&|e| e.action == AuditAction::Rollback));
    let (rows, _) = audit(&core, &format!("{range}&result=failure&actor=actor0")).await;
    assert_eq!(
        ats(&rows),
        expect(&|e| e.result == AuditResult::Failure && e.actor == "actor0")
    );
    // since is inclusive, until exclusive
    let (rows, _) = audit(
        &core,
        &format!("since={}&until={}", base + 3_000, base + 7_000),
    )
    .await;
    assert_eq!(
        ats(&rows),
        expect(&|e| e.at >= base + 3_000 && e.at < base + 7_000)
    );
    assert!(rows.iter().all(|r| r["remote_addr"] == "10.0.0.1"));

    // paging: 5 + 5 + 2, newest first, nothing twice
    let mut seen = Vec::new();
    let mut offset = Value::from(0);
    let mut pages = 0;
    while let Some(at) = offset.as_i64() {
        let (rows, next) = audit(&core, &format!("{range}&limit=5&offset={at}")).await;
        assert!(rows.len() <= 5);
        seen.extend(ats(&rows));
        offset = next;
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expect(&|_| true));
    let (rows, next) = audit(&core, &format!("{range}&limit=5&offset=10")).await;
    assert_eq!((rows.len(), next), (2, Value::Null));
    let (rows, next) = audit(&core, &format!("{range}&limit=4&offset=0")).await;
    assert_eq!((rows.len(), next), (4, Value::from(4)));

    // an action or result no row can have is a clear 400, not an empty page
    for (query, message) in [
        (
            "action=teleport",
            "unknown audit action \"teleport\" (expected one of install, reload, rollback, ",
        ),
        (
            "result=maybe",
            "unknown audit result \"maybe\" (expected one of success, failure, denied)",
        ),
    ] {
        let (status, body) = core.get(&format!("/api/audit?{query}")).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "bad_request", "{body}");
        let text = body["error"]["message"].as_str().unwrap();
        assert!(text.starts_with(message), "{text}");
    }
}
