//! `POST /api/login` sessions: the cookie's attributes, CSRF on state-changing
//! API calls made with the cookie, logout, and login throttling.

mod common;

use common::Core;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn add_user(core: &Core, name: &str, role: &str) {
    let config = px_core::Config::new(core.data.path());
    let store = px_core::Store::connect(&config.database_url())
        .await
        .unwrap();
    let password = format!("{name}-pass");
    store.add_user(name, role, Some(&password)).await.unwrap();
}

async fn login(core: &Core, name: &str, password: &str) -> reqwest::Response {
    core.client
        .post(format!("{}/api/login", core.url))
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .unwrap()
}

/// `(cookie pair, csrf token)` of a fresh session.
async fn session(core: &Core, name: &str) -> (String, String) {
    let response = login(core, name, &format!("{name}-pass")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    let pair = set_cookie.split(';').next().unwrap().to_owned();
    (pair, body["csrf"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn login_sets_an_http_only_strict_cookie() {
    let core = Core::start().await;
    add_user(&core, "ada", "admin").await;
    let response = login(&core, "ada", "ada-pass").await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attributes[0].starts_with("px_session="), "{cookie}");
    assert!(attributes[0].len() > "px_session=".len() + 20, "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            attributes.contains(&attribute),
            "{attribute} missing: {cookie}"
        );
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"], "ada");
    assert!(body["csrf"].as_str().unwrap().len() >= 20, "{body}");
    assert!(
        !body
            .to_string()
            .contains(&attributes[0]["px_session=".len()..]),
        "the session secret is only in the cookie"
    );

    // wrong password: 401, no cookie
    let response = login(&core, "ada", "nope").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn cookie_requests_that_change_state_need_the_csrf_header() {
    let core = Core::start().await;
    add_user(&core, "ada", "admin").await;
    let (cookie, csrf) = session(&core, "ada").await;
    let url = |path: &str| format!("{}{path}", core.url);
    let with_cookie = |request: reqwest::RequestBuilder| request.header("cookie", &cookie);

    // reading needs no CSRF token
    let me = with_cookie(core.client.get(url("/api/me")))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<Value>().await.unwrap()["actor"], "ada");

    // every state-changing API route refuses a cookie request without it
    let body = json!({"source": {"kind": "dir", "path": "/nonexistent/dist"}});
    let changes = [
        ("POST", "/api/plugins/dev/install", Some(body.clone())),
        (
            "DELETE",
            "/api/plugins/dev/install?plugin_id=com.example.absent",
            None,
        ),
        ("POST", "/api/plugins/com.example.absent/rollback", None),
    ];
    for (method, path, body) in &changes {
        for sent in [None, Some("forged-token")] {
            let mut request = with_cookie(core.client.request(method.parse().unwrap(), url(path)));
            if let Some(token) = sent {
                request = request.header("x-csrf-token", token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} with csrf {sent:?}"
            );
            let error: Value = response.json().await.unwrap();
            assert!(
                error["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("X-CSRF-Token"),
                "{error}"
            );
        }
        // with the session's token it reaches the handler (which refuses the harmless request)
        let mut request = with_cookie(core.client.request(method.parse().unwrap(), url(path)))
            .header("x-csrf-token", &csrf);
        if let Some(body) = body {
            request = request.json(body);
        }
        let status = request.send().await.unwrap().status();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "{method} {path} with the csrf token: {status}"
        );
    }

    // a bearer token needs no CSRF token (it is not sent by browsers on their own)
    let response = core
        .authed(core.client.post(url("/api/plugins/dev/install")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // logout ends the session
    let response = with_cookie(core.client.post(url("/api/logout")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let me = with_cookie(core.client.get(url("/api/me")))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled() {
    let core = Core::start().await;
    add_user(&core, "ada", "admin").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(login(&core, "ada", "guess").await.status().as_u16());
    }
    assert_eq!(statuses, [401; 5]);
    // now even the right password waits
    let response = login(&core, "ada", "ada-pass").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "too_many_attempts");
    // and so does another name from the same address
    add_user(&core, "bob", "viewer").await;
    assert_eq!(
        login(&core, "bob", "bob-pass").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // each attempt is audited; the throttled ones as denied
    let (status, page) = core.get("/api/audit?action=login&actor=ada").await;
    assert_eq!(status, 200);
    let results: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert_eq!(
        results,
        [
            "denied", "failure", "failure", "failure", "failure", "failure"
        ]
    );
}
