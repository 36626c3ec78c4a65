//! Admin over plain HTTP (no browser): sessions, redirects, CSRF on forms,
//! permissions enforced by the server whatever the page shows, assets.

mod admin_support;
mod common;

use admin_support::http::{FormBody, add_user, csrf_of, login, page, raw};
use common::{Core, HELLO};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION};

#[tokio::test]
async fn pages_need_a_session_and_forms_need_the_csrf_token() {
    let core = Core::start().await;
    add_user(&core, "dana", "plugin-developer", "dana-pass").await;
    add_user(&core, "vic", "viewer", "vic-pass").await;

    for path in [
        "/admin/plugins",
        "/admin/plugins/com.x.y",
        "/admin/audit",
        "/admin/guide",
        "/admin/p/com.x.y/",
    ] {
        let response = raw()
            .get(format!("{}{path}", core.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let location = response.headers()[LOCATION].to_str().unwrap();
        assert!(
            location.starts_with("/admin/login?next=/admin/"),
            "{path}: {location}"
        );
    }
    // a stale cookie is no session either
    let (status, _) = page(&core, "px_session=nope", "/admin/plugins").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // wrong password: the form again, with the reason
    let response = raw()
        .post(format!("{}/admin/login", core.url))
        .form_body(&[("name", "dana"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("wrong name or password")
    );

    // no open redirect after login
    let response = raw()
        .post(format!("{}/admin/login", core.url))
        .form_body(&[
            ("name", "dana"),
            ("password", "dana-pass"),
            ("next", "//evil.example/admin"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[LOCATION], "/admin/plugins");

    let dana = login(&core, "dana", "dana-pass").await;
    let (status, html) = page(&core, &dana, "/admin/guide").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("px-plugin login --core {}", core.url)));
    let csrf = csrf_of(&html);

    // the token form refuses a missing or wrong csrf field
    for sent in ["", "forged"] {
        let response = raw()
            .post(format!("{}/admin/guide/token", core.url))
            .header("cookie", &dana)
            .form_body(&[("csrf", sent), ("name", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    let response = raw()
        .post(format!("{}/admin/guide/token", core.url))
        .header("cookie", &dana)
        .form_body(&[("csrf", csrf.as_str()), ("name", "ci")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("id=\"new-token\""));

    // the API wants X-CSRF-Token with the cookie
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    let body = serde_json::json!({"source": {"kind": "dir", "path": dir}});
    let install = |csrf: Option<&str>| {
        let mut request = raw()
            .post(format!("{}/api/plugins/dev/install", core.url))
            .header("cookie", &dana)
            .json(&body);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    assert_eq!(install(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(install(Some(&csrf)).await.unwrap().status(), StatusCode::OK);

    // a developer sees dev controls; a viewer sees none and is refused anyway
    let (_, html) = page(&core, &dana, "/admin/plugins").await;
    assert!(html.contains("id=\"install-form\""));
    let (_, html) = page(&core, &dana, &format!("/admin/plugins/{HELLO}")).await;
    assert!(html.contains("data-action=\"uninstall\""));

    let vic = login(&core, "vic", "vic-pass").await;
    let (status, html) = page(&core, &vic, "/admin/plugins").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(HELLO));
    assert!(!html.contains("install-form"));
    let (_, html) = page(&core, &vic, &format!("/admin/plugins/{HELLO}")).await;
    assert!(!html.contains("data-action"));
    let (status, _) = page(&core, &vic, "/admin/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // the plugin's menu needs its own permission
    let (status, _) = page(&core, &vic, &format!("/admin/p/{HELLO}/")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let vic_csrf = csrf_of(&html);
    let response = raw()
        .delete(format!(
            "{}/api/plugins/dev/install?plugin_id={HELLO}",
            core.url
        ))
        .header("cookie", &vic)
        .header("x-csrf-token", &vic_csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // fragments the scripts refetch
    let (status, rows) = page(&core, &dana, "/admin/plugins/_rows").await;
    assert_eq!(status, StatusCode::OK);
    assert!(rows.contains("data-state=\"active\""));
    let (status, _) = page(&core, &dana, "/admin/plugins/com.not.here/_status").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // logout needs the csrf field and ends the session
    let response = raw()
        .post(format!("{}/admin/logout", core.url))
        .header("cookie", &dana)
        .form_body(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = raw()
        .post(format!("{}/admin/logout", core.url))
        .header("cookie", &dana)
        .form_body(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _) = page(&core, &dana, "/admin/plugins").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    core.stop().await;
}

#[tokio::test]
async fn assets_are_embedded_and_cached_and_pages_carry_a_csp() {
    let core = Core::start().await;
    for (name, kind) in [
        ("admin.css", "text/css"),
        ("admin.js", "text/javascript"),
        ("plugins.js", "text/javascript"),
        ("detail.js", "text/javascript"),
        ("entry.js", "text/javascript"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let response = raw()
            .get(format!("{}/admin/assets/{name}?v=1", core.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert!(
            response.headers()[CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("max-age")
        );
    }
    let response = raw()
        .get(format!("{}/admin/assets/nope.js", core.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = raw()
        .get(format!("{}/admin/login", core.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'self'"));
    let html = response.text().await.unwrap();
    assert!(html.contains("<label for=\"name\">") && html.contains("<label for=\"password\">"));
    assert!(!html.contains("<script>"), "inline scripts break the CSP");
    core.stop().await;
}
