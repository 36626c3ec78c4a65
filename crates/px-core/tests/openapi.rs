//! `GET /api/openapi.json`: an OpenAPI 3.x JSON document, and every route of
//! Core's API is in it.
//!
//! How "every route is documented" is checked (axum cannot list a router's
//! routes, so two complementary checks):
//!
//! 1. **Source**: every API route is registered with
//!    `OpenApiRouter::routes(routes!(handler))`, which takes path and methods
//!    from the handler's `#[utoipa::path]`. The only way around the document
//!    is a plain `.route(…)` / `.route_service(…)` / `.nest(…)` call, so the
//!    test reads every `.rs` file under `src/` and requires each such call's
//!    literal path to be an Admin page (`/admin…`, which is not API). Adding
//!    `.route("/api/x", get(x))` anywhere fails this test.
//! 2. **The running router**: for every documented path and method, a real
//!    Core answers something other than its fallback ("no such route") and
//!    other than 405; for every other common method on a documented path it
//!    answers 405. So the document and the router agree on what exists, in
//!    both directions, for every documented path.
//!
//! The authorization matrix (`tests/authz.rs`) also requires its table of
//! routes to equal the document's, so a new route needs a row there too.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{Core, HELLO};
use serde_json::Value;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn fetch_document(core: &Core) -> Value {
    let response = core
        .client
        .get(format!("{}/api/openapi.json", core.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the document needs no credential");
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json().await.unwrap()
}

/// `(METHOD, path)` of every documented operation.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// Every `$ref` in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => out.push(target.clone()),
                    _ => refs(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_json_covering_the_spec_routes() {
    let core = Core::start().await;
    let doc = fetch_document(&core).await;

    // OpenAPI 3.x object shape
    let version = doc["openapi"].as_str().expect("an openapi version string");
    assert!(version.starts_with("3."), "not OpenAPI 3: {version}");
    assert_eq!(doc["info"]["title"], "PowerX Core API");
    assert_eq!(doc["info"]["version"], px_core::VERSION);
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "px_session");

    // every $ref resolves inside the document
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {target}"));
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {target}");
    }

    // every operation: responses, a permission statement, path parameters declared
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let what = format!("{method} {path}");
        assert!(
            !op["responses"].as_object().unwrap().is_empty(),
            "{what}: no responses"
        );
        let description = op["description"].as_str().unwrap_or_default();
        assert!(
            description.starts_with("Permission: "),
            "{what}: the description does not state the permission: {description:?}"
        );
        assert!(!path.contains("{*"), "{what}: axum wildcard syntax leaked");
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(declared, templated, "{what}: path parameters");
        // credential-taking routes name both schemes; open ones none
        let security = op["security"].as_array().expect("explicit security");
        let needs_credential = !description.starts_with("Permission: none");
        let names: BTreeSet<&str> = security
            .iter()
            .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
            .collect();
        if needs_credential {
            assert_eq!(
                names,
                BTreeSet::from(["bearer", "session"]),
                "{what}: security"
            );
            assert!(
                op["responses"].get("401").is_some(),
                "{what}: no 401 documented"
            );
        } else {
            assert!(
                names.is_empty(),
                "{what}: open route with security {names:?}"
            );
        }
    }

    // the SPEC §3.2 table is in the document
    let ops = operations(&doc);
    for (method, path) in [
        ("POST", "/api/plugins/dev/install"),
        ("DELETE", "/api/plugins/dev/install"),
        ("GET", "/api/plugins"),
        ("GET", "/api/plugins/{id}"),
        ("POST", "/api/plugins/{id}/rollback"),
        ("GET", "/api/plugins/{id}/logs"),
        ("GET", "/api/ws"),
        ("GET", "/api/audit"),
        ("GET", "/api/openapi.json"),
        ("GET", "/metrics"),
        ("GET", "/healthz"),
        ("POST", "/_p/{id}/api/{rest}"),
        ("GET", "/_p/{id}/admin/{path}"),
    ] {
        assert!(
            ops.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path} missing from the document"
        );
    }
    assert!(
        !ops.iter().any(|(_, p)| p.starts_with("/admin")),
        "Admin pages are not API"
    );

    // the install report's statuses and bodies
    let install = &doc["paths"]["/api/plugins/dev/install"]["post"];
    for status in ["200", "400", "401", "403", "409", "413", "422", "502"] {
        assert!(
            install["responses"].get(status).is_some(),
            "install does not document {status}"
        );
    }
    assert_eq!(
        install["responses"]["502"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/InstallReport"
    );
    let bodies = install["requestBody"]["content"].as_object().unwrap();
    assert!(bodies.contains_key("application/json"));
    assert!(bodies.contains_key(px_api::PXP_CONTENT_TYPE));
    assert_eq!(
        doc["paths"]["/api/plugins"]["get"]["responses"]["403"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/ErrorBody"
    );
    let ws = doc["paths"]["/api/ws"]["get"]["description"]
        .as_str()
        .unwrap();
    assert!(ws.contains("subscribe") && ws.contains("plugin.dev.logs"));
}

/// Literal paths given to `.route(`, `.route_service(`, `.nest(` or
/// `.nest_service(` anywhere under `dir`, with the file they are in.
fn plain_routes(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            plain_routes(&path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let compact: String = text.split_whitespace().collect();
        for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            for (at, _) in compact.match_indices(call) {
                let rest = &compact[at + call.len()..];
                let literal = rest
                    .strip_prefix('"')
                    .and_then(|r| r.split('"').next())
                    .unwrap_or("<not a literal>");
                out.push((literal.to_owned(), path.display().to_string()));
            }
        }
    }
}

#[test]
fn no_route_bypasses_the_document() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    plain_routes(&src, &mut found);
    assert!(
        found.iter().any(|(p, _)| p == "/admin/login"),
        "the scan found no Admin route at all, so it is broken: {found:?}"
    );
    for (path, file) in &found {
        assert!(
            path.starts_with("/admin"),
            "{file} registers {path:?} with a plain axum call: API routes must go \
             through OpenApiRouter::routes(routes!(…)) with #[utoipa::path]"
        );
    }
}

/// A concrete request path for a documented template.
fn concrete(template: &str) -> String {
    template
        .replace("{id}", HELLO)
        .replace("{rest}", "hello")
        .replace("{path}", "index.html")
}

#[tokio::test]
async fn the_router_serves_exactly_the_documented_methods_of_each_path() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let doc = fetch_document(&core).await;
    let documented = operations(&doc);

    // the discriminator: an unknown path gets the fallback's body
    let fallback = core
        .authed(core.client.get(format!("{}/api/nope", core.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(fallback.status(), 404);
    let body: Value = fallback.json().await.unwrap();
    assert_eq!(body["error"]["message"], "no such route");

    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            // leave the plugin installed for the other paths
            if method == "DELETE" && path == "/api/plugins/dev/install" {
                continue;
            }
            let url = format!("{}{}", core.url, concrete(path));
            let request = core.client.request(method.parse().unwrap(), url);
            let response = core.authed(request).send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let what = format!("{method} {path}");
            if documented.contains(&(method.to_owned(), path.clone())) {
                assert_ne!(status, 405, "{what} is documented but not routed");
                assert!(
                    !text.contains("no such route"),
                    "{what} is documented but falls through: {status} {text}"
                );
            } else {
                assert_eq!(status, 405, "{what} is routed but not documented: {text}");
            }
        }
    }
}
