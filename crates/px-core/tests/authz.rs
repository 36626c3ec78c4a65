//! The authorization matrix (SPEC §3.2): every route of the OpenAPI document
//! × {no token, bad token, viewer, plugin-developer, admin, plugin token} →
//! the expected status, in one table, against a real Core with a real plugin
//! whose own `PX_PLUGIN_TOKEN` is read from its process environment. Then the
//! same Core restarted with dev mode off: every `/api/plugins/dev/*` path
//! answers 404 whoever asks.

mod common;
mod flood;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Core, HELLO, Options};
use px_api::ServerControl;
use serde_json::{Value, json};

/// Columns of the matrix.
const WHO: [&str; 6] = ["none", "bad", "viewer", "developer", "admin", "plugin"];
/// A well-formed token that Core never issued.
const BAD_TOKEN: &str = "pxt_0123456789abcdefghij0123456789abcdefghij";
/// Pseudo-method of the row that subscribes to `plugin.dev.logs` once
/// connected: 200 = `subscribed`, 403 = an `error` frame with code `forbidden`.
const SUBSCRIBE: &str = "SUBSCRIBE";
/// Pseudo-status of a WebSocket upgrade that succeeded.
const SWITCHED: u16 = 101;

/// One row: method, documented path, concrete path (with query), JSON body, statuses by [`WHO`].
type Row = (&'static str, &'static str, String, Option<Value>, [u16; 6]);

#[rustfmt::skip]
fn table() -> Vec<Row> {
    let hello = HELLO;
    let p = |path: &str| path.replace("{id}", hello);
    let mut rows: Vec<Row> = vec![
        // open
        ("GET", "/healthz", p("/healthz"), None, [200; 6]),
        ("GET", "/metrics", p("/metrics"), None, [200; 6]),
        ("GET", "/api/openapi.json", p("/api/openapi.json"), None, [200; 6]),
        ("POST", "/api/login", p("/api/login"), Some(json!({"name": "vera", "password": "vera-pass"})), [200; 6]),
        ("POST", "/api/logout", p("/api/logout"), None, [204; 6]),
        // any credential
        ("GET", "/api/me", p("/api/me"), None, [401, 401, 200, 200, 200, 200]),
        ("GET", "/api/ws", p("/api/ws"), None, [401, 401, SWITCHED, SWITCHED, SWITCHED, SWITCHED]),
        (SUBSCRIBE, "/api/ws", p("/api/ws"), None, [401, 401, 200, 200, 200, 403]),
        // plugin:read
        ("GET", "/api/plugins", p("/api/plugins"), None, [401, 401, 200, 200, 200, 403]),
        ("GET", "/api/plugins/{id}", p("/api/plugins/{id}"), None, [401, 401, 200, 200, 200, 403]),
        ("GET", "/api/plugins/{id}/logs", p("/api/plugins/{id}/logs?tail=5"), None, [401, 401, 200, 200, 200, 403]),
        ("GET", "/api/alerts", p("/api/alerts"), None, [401, 401, 200, 200, 200, 403]),
        ("GET", "/_p/{id}/admin", p("/_p/{id}/admin"), None, [401, 401, 200, 200, 200, 403]),
        ("GET", "/_p/{id}/admin/", p("/_p/{id}/admin/"), None, [401, 401, 200, 200, 200, 403]),
        ("GET", "/_p/{id}/admin/{path}", p("/_p/{id}/admin/index.html"), None, [401, 401, 200, 200, 200, 403]),
        // audit:read
        ("GET", "/api/audit", p("/api/audit"), None, [401, 401, 403, 200, 200, 403]),
        // plugin:dev: allowed callers reach the handler, which refuses the
        // harmless request it was sent (no such directory, revision or plugin)
        ("POST", "/api/plugins/dev/install", p("/api/plugins/dev/install"), Some(json!({"source": {"kind": "dir", "path": "/nonexistent/dist"}})), [401, 401, 403, 400, 400, 403]),
        ("DELETE", "/api/plugins/dev/install", p("/api/plugins/dev/install?plugin_id=com.example.absent"), None, [401, 401, 403, 404, 404, 403]),
        ("POST", "/api/plugins/{id}/rollback", p("/api/plugins/{id}/rollback"), Some(json!({"revision": 999})), [401, 401, 403, 400, 400, 403]),
    ];
    // the proxy: Core asks for nothing, the plugin decides (hello answers
    // GET /hello, 404 for other GETs, echoes POSTs, 501 for other methods)
    for (template, concrete) in [
        ("/_p/{id}/api", p("/_p/{id}/api")),
        ("/_p/{id}/api/", p("/_p/{id}/api/")),
        ("/_p/{id}/api/{rest}", p("/_p/{id}/api/hello")),
    ] {
        let get = if template.ends_with("{rest}") { 200 } else { 404 };
        rows.push(("GET", template, concrete.clone(), None, [get; 6]));
        rows.push(("POST", template, concrete.clone(), Some(json!({})), [200; 6]));
        for method in ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"] {
            rows.push((method, template, concrete.clone(), None, [501; 6]));
        }
    }
    rows
}

/// Tokens by [`WHO`] (`None` = no credential).
async fn identities(core: &Core) -> [Option<String>; 6] {
    let config = px_core::Config::new(core.data.path());
    let store = px_core::Store::connect(&config.database_url())
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for (name, role) in [
        ("vera", "viewer"),
        ("devon", "plugin-developer"),
        ("ada", "admin"),
    ] {
        if store.user_by_name(name).await.unwrap().is_none() {
            let password = format!("{name}-pass");
            store.add_user(name, role, Some(&password)).await.unwrap();
        }
        tokens.push(store.create_user_token(name, "authz").await.unwrap());
    }
    let [viewer, developer, admin] = <[String; 3]>::try_from(tokens).unwrap();
    [
        None,
        Some(BAD_TOKEN.to_owned()),
        Some(viewer),
        Some(developer),
        Some(admin),
        Some(plugin_token(core).await),
    ]
}

/// The running plugin's own `PX_PLUGIN_TOKEN`, from its environment.
async fn plugin_token(core: &Core) -> String {
    let mut pids = Vec::new();
    common::eventually("the plugin process", Duration::from_secs(20), || {
        pids = common::plugin_pids(HELLO, core.data.path());
        !pids.is_empty()
    })
    .await;
    common::environ(pids[0])
        .into_iter()
        .find(|(k, _)| k == "PX_PLUGIN_TOKEN")
        .map(|(_, v)| v)
        .expect("PX_PLUGIN_TOKEN in the plugin's environment")
}

async fn http_status(core: &Core, row: &Row, token: Option<&str>) -> u16 {
    let (method, _, path, body, _) = row;
    let mut request = core
        .client
        .request(method.parse().unwrap(), format!("{}{path}", core.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap().status().as_u16()
}

/// 101 or the refusal's status; with `subscribe`, then 200 for `subscribed`
/// or 403 for a `forbidden` error frame.
async fn ws_status(core: &Core, token: Option<&str>, subscribe: bool) -> u16 {
    use tokio_tungstenite::tungstenite::Error;
    let mut socket = match flood::connect(&core.url, token).await {
        Ok(socket) => socket,
        Err(Error::Http(response)) => return response.status().as_u16(),
        Err(error) => panic!("websocket: {error}"),
    };
    if !subscribe {
        return SWITCHED;
    }
    flood::subscribe(&mut socket, "*", Some(0)).await;
    match flood::next_control(&mut socket, Duration::from_secs(10)).await {
        ServerControl::Subscribed { .. } => 200,
        ServerControl::Error { code, .. } if code == "forbidden" => 403,
        other => panic!("unexpected answer to subscribe: {other:?}"),
    }
}

async fn documented_operations(core: &Core) -> BTreeSet<(String, String)> {
    let (_, doc) = core.get("/api/openapi.json").await;
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[tokio::test]
async fn every_route_answers_every_kind_of_caller_as_the_spec_says() {
    let core = Core::start_with(Options {
        probation_ms: 0,
        ..Options::default()
    })
    .await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let who = identities(&core).await;
    let table = table();

    // the table covers exactly the documented operations
    let rows: BTreeSet<(String, String)> = table
        .iter()
        .filter(|row| row.0 != SUBSCRIBE)
        .map(|row| (row.0.to_owned(), row.1.to_owned()))
        .collect();
    let documented = documented_operations(&core).await;
    assert_eq!(
        rows.symmetric_difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "rows without a documented route, or documented routes without a row"
    );

    let mut wrong = Vec::new();
    for row in &table {
        for (column, token) in who.iter().enumerate() {
            let token = token.as_deref();
            let got = match (row.0, row.1) {
                (SUBSCRIBE, _) => ws_status(&core, token, true).await,
                ("GET", "/api/ws") => ws_status(&core, token, false).await,
                _ => http_status(&core, row, token).await,
            };
            let expected = row.4[column];
            if got != expected {
                wrong.push(format!(
                    "{} {} as {}: expected {expected}, got {got}",
                    row.0, row.2, WHO[column]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong cells:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // the same Core with dev mode off: the dev API is not there for anybody
    let (data, work) = core.stop().await;
    let core = Core::start_in_configured(data, work, Options::default(), |config| {
        config.dev = false;
    })
    .await;
    let who = identities(&core).await;
    let (_, health) = core.get("/healthz").await;
    assert_eq!(health["dev_mode"], false);
    let paths = [
        ("POST", "/api/plugins/dev/install"),
        (
            "DELETE",
            "/api/plugins/dev/install?plugin_id=com.example.hello",
        ),
        ("GET", "/api/plugins/dev/install"),
        ("GET", "/api/plugins/dev"),
        ("POST", "/api/plugins/dev/"),
        ("PUT", "/api/plugins/dev/anything/else"),
    ];
    for (method, path) in paths {
        for (column, token) in who.iter().enumerate() {
            let row: Row = (method, "", path.to_owned(), Some(json!({})), [0; 6]);
            let got = http_status(&core, &row, token.as_deref()).await;
            assert_eq!(got, 404, "dev mode off: {method} {path} as {}", WHO[column]);
        }
    }
    // the rest of the API is unchanged
    let row: Row = ("GET", "", "/api/plugins".to_owned(), None, [0; 6]);
    assert_eq!(http_status(&core, &row, who[2].as_deref()).await, 200);
    assert_eq!(http_status(&core, &row, who[5].as_deref()).await, 403);
}
