//! Which path a plugin sees (SPEC §3.2): `/_p/{id}/api/*` below the
//! backend's `http_base_path` without doubling a version prefix the caller
//! already wrote, and `admin.static_dir` serving a single-page app's deep
//! links while assets and `..` stay refused.

mod common;

use common::{Core, HELLO};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The path the backend saw for `GET /_p/<HELLO>/api<path>`: hello-python
/// answers an unknown path with 404 and the path it got.
async fn seen(core: &Core, path: &str) -> String {
    let (status, body) = core.proxy(HELLO, path).await;
    assert_eq!(status, 404, "{path}: {body}");
    body["path"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_versioned_base_path_is_not_doubled() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |m: &mut Value| {
        m["runtime"]["http_base_path"] = "/api/v1".into();
    });
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");

    assert_eq!(seen(&core, "/v1/notes").await, "/api/v1/notes");
    assert_eq!(seen(&core, "/notes").await, "/api/v1/notes");
    assert_eq!(seen(&core, "/api/v1/notes").await, "/api/v1/notes");
    assert_eq!(seen(&core, "/v1/notes?page=2").await, "/api/v1/notes");
    assert_eq!(seen(&core, "/v1").await, "/api/v1");
    // whole segments only
    assert_eq!(seen(&core, "/v10/notes").await, "/api/v1/v10/notes");
    assert_eq!(seen(&core, "/api/notes").await, "/api/v1/api/notes");
    core.stop().await;
}

#[tokio::test]
async fn the_root_base_path_forwards_the_path_as_is() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    assert_eq!(seen(&core, "/v1/notes").await, "/v1/notes");
    assert_eq!(seen(&core, "/api/v1/notes").await, "/api/v1/notes");
    let (status, _) = core.proxy(HELLO, "/hello").await;
    assert_eq!(status, 200);
    core.stop().await;
}

/// `GET /_p/<HELLO>/admin<path>` with the token and `accept` (if any):
/// status and body.
async fn admin(
    core: &Core,
    method: reqwest::Method,
    path: &str,
    accept: Option<&str>,
) -> (u16, String) {
    let url = format!("{}/_p/{HELLO}/admin{path}", core.url);
    let mut request = core.authed(core.client.request(method, url));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// One raw HTTP/1.1 request with `target` exactly as written (no client
/// normalises its dot segments); the status code.
async fn raw_status(core: &Core, target: &str) -> u16 {
    let address = core.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Accept: text/html\r\nConnection: close\r\n\r\n",
        core.token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1).unwrap_or_default();
    status
        .parse()
        .unwrap_or_else(|_| panic!("no status: {answer}"))
}

#[tokio::test]
async fn static_admin_pages_serve_deep_links_as_the_index() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let index = std::fs::read_to_string(dir.join("admin/index.html")).unwrap();
    let html = Some("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8");
    let get = reqwest::Method::GET;

    assert_eq!(
        admin(&core, get.clone(), "/", html).await,
        (200, index.clone())
    );
    assert_eq!(
        admin(&core, get.clone(), "/index.html", html).await,
        (200, index.clone())
    );
    // deep links of a single-page app, with any Accept that takes HTML
    for (path, accept) in [
        ("/templates/crud", html),
        ("/templates/crud/", html),
        ("/templates", Some("*/*")),
        ("/settings", None),
    ] {
        assert_eq!(
            admin(&core, get.clone(), path, accept).await,
            (200, index.clone()),
            "{path} {accept:?}"
        );
    }
    let (status, body) = admin(&core, reqwest::Method::HEAD, "/templates/crud", html).await;
    assert_eq!((status, body.as_str()), (200, ""));

    // assets, and callers that want no HTML, still get 404
    for (path, accept) in [
        ("/_nuxt/app.js", html),
        ("/logo.svg", Some("image/*")),
        ("/templates/crud", Some("application/json")),
    ] {
        let (status, _) = admin(&core, get.clone(), path, accept).await;
        assert_eq!(status, 404, "{path} {accept:?}");
    }

    // `..` is refused, encoded or not, even where a page would be served
    for target in [
        format!("/_p/{HELLO}/admin/../manifest.json"),
        format!("/_p/{HELLO}/admin/%2e%2e/manifest.json"),
        format!("/_p/{HELLO}/admin/%2E%2E/server"),
        format!("/_p/{HELLO}/admin/templates/..%2f..%2fserver"),
    ] {
        let status = raw_status(&core, &target).await;
        assert_eq!(status, 404, "{target}");
    }
    assert_eq!(
        raw_status(&core, &format!("/_p/{HELLO}/admin/deep/link")).await,
        200
    );
    core.stop().await;
}
