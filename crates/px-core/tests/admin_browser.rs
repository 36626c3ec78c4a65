//! Admin in a real headless Chromium against a real Core with real plugin
//! processes: one Core and one chromedriver shared by the whole walk-through
//! (browser tests are slow), several browser sessions (admin, viewer, phone
//! width, dark scheme). Screenshots land in `target/admin-screenshots/`.

mod admin_support;
mod common;

use admin_support::{Browser, Driver};
use common::{Core, HELLO, Options, mode};
use serde_json::json;

const OTHER: &str = "com.example.other";

async fn users(core: &Core) {
    let url = format!(
        "sqlite://{}?mode=rwc",
        core.data.path().join("powerx.db").display()
    );
    let store = px_core::Store::connect(&url).await.unwrap();
    store
        .add_user("alice", "admin", Some("alice-pass"))
        .await
        .unwrap();
    store
        .add_user("vera", "viewer", Some("vera-pass"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_walkthrough_in_chromium() {
    let core = Core::start_with(Options {
        probation_ms: 300,
        ..Options::default()
    })
    .await;
    users(&core).await;
    let driver = Driver::start().await;

    let admin = driver.browser(1280, 860, false).await;
    developer_flow(&core, &admin).await;
    admin.close().await;

    let viewer = driver.browser(1280, 860, false).await;
    viewer_sees_no_dev_controls(&core, &viewer).await;
    viewer.close().await;

    let phone = driver.browser(390, 844, false).await;
    phone.login(&core.url, "alice", "alice-pass").await;
    phone.screenshot("plugins-phone").await;
    phone
        .goto(&format!("{}/admin/plugins/{OTHER}", core.url))
        .await;
    phone.until_text("#plugin-state", "active").await;
    phone.screenshot("detail-phone").await;
    phone.close().await;

    let dark = driver.browser(1280, 860, true).await;
    dark.login(&core.url, "alice", "alice-pass").await;
    let scheme = dark
        .js(
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
            vec![],
        )
        .await;
    dark.screenshot("plugins-dark").await;
    dark.goto(&format!("{}/admin/plugins/{OTHER}", core.url))
        .await;
    dark.until_text("#log", "listening").await;
    dark.screenshot("detail-dark").await;
    dark.close().await;
    assert_eq!(scheme, json!(true), "the dark session did not prefer dark");

    core.stop().await;
}

async fn developer_flow(core: &Core, b: &Browser) {
    let base = &core.url;

    // every page wants a session
    b.goto(&format!("{base}/admin/audit")).await;
    assert_eq!(b.path().await, "/admin/login");
    b.fill("#name", "alice").await;
    b.fill("#password", "wrong").await;
    b.click("button[type=submit]").await;
    b.until_text("#login-error", "wrong name or password").await;
    b.screenshot("login").await;
    b.fill("#password", "alice-pass").await;
    b.click("button[type=submit]").await;
    // back where we wanted to go
    b.until(
        "the audit page",
        "return location.pathname === '/admin/audit';",
        vec![],
    )
    .await;

    // install from a local directory through the form
    b.goto(&format!("{base}/admin/plugins")).await;
    b.until_text("#live", "live").await;
    b.mark().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    b.fill("#install-path", dir.to_str().unwrap()).await;
    b.click("#install-submit").await;
    b.until_text("#report-status", "active").await;
    b.until_text("#install-report", "probation").await;
    b.until(
        "the hello row to be active",
        "const tr = document.querySelector(`tr[data-plugin='com.example.hello']`); \
         return !!tr && tr.dataset.state === 'active';",
        vec![],
    )
    .await;
    b.screenshot("plugins-install-report").await;

    // a plugin installed elsewhere (the CLI) appears live, without a reload
    let other = core.plugin("other", OTHER, "0.3.0", |m| {
        m["name"] = "Other plugin".into();
    });
    let (status, _) = core.install_dir(&other).await;
    assert_eq!(status, 200);
    b.until(
        "the other plugin to appear active",
        "const tr = document.querySelector(`tr[data-plugin='com.example.other']`); \
         return !!tr && tr.dataset.state === 'active';",
        vec![],
    )
    .await;
    // its menu joins the sidebar, still without a reload
    b.until(
        "the other plugin's menu in the sidebar",
        "return !!document.querySelector(`#plugin-menus a[data-plugin='com.example.other']`);",
        vec![],
    )
    .await;
    b.assert_not_reloaded().await;
    b.screenshot("plugins").await;

    // detail: backfilled log on open, then live lines
    b.goto(&format!("{base}/admin/plugins/{HELLO}")).await;
    b.until_text("#log", "listening on").await;
    b.until_text("#live", "live").await;
    b.mark().await;
    let (status, _) = core.proxy(HELLO, "/hello?from=admin-test").await;
    assert_eq!(status, 200);
    b.until_text("#log", "GET /hello?from=admin-test").await;
    b.js(
        "document.getElementById('log').scrollIntoView(); return true;",
        vec![],
    )
    .await;
    b.screenshot("detail-logs").await;

    // filter by stream: hiding stdout hides the request line
    b.click("input[value=stdout]").await;
    let visible = b
        .js(
            "return [...document.querySelectorAll('#log li')].filter(li => !li.hidden) \
             .some(li => li.textContent.includes('admin-test'));",
            vec![],
        )
        .await;
    assert_eq!(visible, json!(false), "stdout lines still shown");
    b.click("input[value=stdout]").await;

    // pause holds lines back, resume shows them
    b.click("#log-pause").await;
    core.proxy(HELLO, "/hello?while=paused").await;
    b.until_text("#log-held", "1").await;
    assert!(!b.text("#log").await.unwrap().contains("while=paused"));
    b.click("#log-pause").await;
    b.until_text("#log", "while=paused").await;

    // a broken reload: rolled back, with the reason, without a page reload
    let broken = core.plugin("hello", HELLO, "1.1.0", mode("unhealthy"));
    let (status, report) = core.install_dir(&broken).await;
    assert_eq!(status, 502, "{report:?}");
    b.until_text("#plugin-state", "rolled back").await;
    b.until_text("#reason", "health_failed").await;
    b.until_text("#stale", "r2").await;
    b.until_text("#log", "health_failed").await;
    b.assert_not_reloaded().await;
    b.screenshot("detail-rolled-back").await;

    // the plugin entry: its page in the frame, its menu in the sidebar
    b.goto(&format!("{base}/admin/plugins")).await;
    b.click(&format!("#plugin-menus a[data-plugin='{HELLO}']"))
        .await;
    b.until(
        "the entry page",
        "return location.pathname === '/admin/p/com.example.hello/';",
        vec![],
    )
    .await;
    frame_shows(b, "version 1.0.0").await;
    b.mark().await;
    let v2 = core.plugin("hello", HELLO, "2.0.0", |m| {
        m["config"]["greeting"] = "bonjour".into();
    });
    let (status, _) = core.install_dir(&v2).await;
    assert_eq!(status, 200);
    b.until_text("#entry-revision", "revision 3").await;
    frame_shows(b, "bonjour (version 2.0.0)").await;
    b.assert_not_reloaded().await;
    b.screenshot("entry").await;

    // rollback from the history, confirmed in the dialog
    b.goto(&format!("{base}/admin/plugins/{HELLO}")).await;
    b.click("button[data-action=rollback][data-revision='1']")
        .await;
    b.until(
        "the confirmation dialog",
        "return document.getElementById('confirm').open;",
        vec![],
    )
    .await;
    b.screenshot("detail-confirm").await;
    b.click("#confirm-ok").await;
    b.until_text("#plugin-revision", "r1").await;
    let (_, body) = core.proxy(HELLO, "/hello").await;
    assert_eq!(body["version"], "1.0.0");

    // audit with a filter
    b.goto(&format!(
        "{base}/admin/audit?plugin_id={HELLO}&result=failure"
    ))
    .await;
    b.until_text("#audit-rows", "health_failed").await;
    assert!(
        !b.text("#audit-rows").await.unwrap().contains("success"),
        "the result filter let a success through"
    );
    b.goto(&format!("{base}/admin/audit")).await;
    b.until_text("#audit-rows", "login").await;
    b.screenshot("audit").await;

    // guide: this Core's commands, and a personal token shown once
    b.goto(&format!("{base}/admin/guide")).await;
    b.until_text("#cmd-login", &format!("px-plugin login --core {base}"))
        .await;
    b.until_text("#cmd-dev", "px-plugin dev --watch").await;
    b.fill("#token-name", "laptop").await;
    b.click("#create-token").await;
    b.until(
        "the new token",
        "return !!document.getElementById('new-token');",
        vec![],
    )
    .await;
    let token = b.text("#new-token").await.unwrap();
    let me = core
        .client
        .get(format!("{base}/api/plugins"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "the token from the guide does not work");
    b.screenshot("guide").await;
    b.goto(&format!("{base}/admin/guide")).await;
    assert!(!b.exists("#new-token").await, "the token was shown twice");

    // uninstall, confirmed
    b.goto(&format!("{base}/admin/plugins/{HELLO}")).await;
    b.click("#uninstall").await;
    b.click("#confirm-ok").await;
    b.until(
        "the plugins page without hello",
        "return location.pathname === '/admin/plugins' && \
         !document.querySelector(`tr[data-plugin='com.example.hello']`);",
        vec![],
    )
    .await;
    let (status, _) = core.get(&format!("/api/plugins/{HELLO}")).await;
    assert_eq!(status, 404);

    // logout ends the session
    b.click("#logout").await;
    b.until(
        "the login page",
        "return location.pathname === '/admin/login';",
        vec![],
    )
    .await;
    b.goto(&format!("{base}/admin/plugins")).await;
    assert_eq!(b.path().await, "/admin/login");
}

/// Waits until the plugin frame's `#answer` contains `needle`.
async fn frame_shows(b: &Browser, needle: &str) {
    b.until(
        &format!("the plugin page to show {needle:?}"),
        "const f = document.getElementById('entry-frame'); \
         const doc = f && f.contentDocument; const el = doc && doc.getElementById('answer'); \
         return !!el && el.textContent.includes(arguments[0]);",
        vec![json!(needle)],
    )
    .await;
}

async fn viewer_sees_no_dev_controls(core: &Core, b: &Browser) {
    let base = &core.url;
    b.login(base, "vera", "vera-pass").await;
    b.until(
        "the plugin list",
        "return !!document.querySelector(`tr[data-plugin='com.example.other']`);",
        vec![],
    )
    .await;
    assert!(
        !b.exists("#install-form").await,
        "viewer sees the install form"
    );
    // no audit:read: no link, and the page refuses
    assert!(!b.exists("a[href='/admin/audit']").await);
    // the plugin's menu needs its own permission, which a viewer lacks
    assert!(!b.exists("#plugin-menus").await, "viewer sees plugin menus");
    b.screenshot("plugins-viewer").await;

    b.goto(&format!("{base}/admin/plugins/{OTHER}")).await;
    b.until_text("#log", "listening").await;
    assert!(!b.exists("[data-action]").await, "viewer sees dev buttons");

    // forged requests with the viewer's own session and CSRF token are refused
    let statuses = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             const csrf = document.querySelector('meta[name=csrf-token]').content; \
             const h = {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}; \
             Promise.all([ \
               fetch('/api/plugins/dev/install', {method: 'POST', headers: h, \
                 body: JSON.stringify({source: {kind: 'dir', path: '/tmp'}})}).then(r => r.status), \
               fetch('/api/plugins/dev/install?plugin_id=com.example.other', {method: 'DELETE', headers: h}).then(r => r.status), \
               fetch('/api/plugins/com.example.other/rollback', {method: 'POST', headers: h}).then(r => r.status), \
               fetch('/admin/audit').then(r => r.status), \
             ]).then(done);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(statuses, json!([403, 403, 403, 403]));
    let (status, _) = core.get(&format!("/api/plugins/{OTHER}")).await;
    assert_eq!(status, 200, "the forged uninstall went through");
}
