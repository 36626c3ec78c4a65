//! `docs/api/dev-hotload.md` and the OpenAPI document cannot drift apart.
//!
//! The endpoint table of the markdown (between `<!-- endpoints:begin` and
//! `<!-- endpoints:end -->`) and `GET /api/openapi.json` must list the same
//! methods and paths, both directions, and for each the same permission
//! (the sentence the route's description starts with), query parameters and
//! status codes. The event table must list exactly the event names Core's
//! plugin lifecycle emits (`"install.…"` / `"plugin.…"` literals in
//! `src/plugins/`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

/// What one endpoint row says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    permission: String,
    query: BTreeSet<String>,
    statuses: BTreeSet<String>,
}

/// The methods `ANY` stands for.
const ANY: [&str; 7] = ["GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH"];

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn doc() -> String {
    std::fs::read_to_string(repo().join("docs/api/dev-hotload.md"))
        .expect("docs/api/dev-hotload.md")
}

/// The table rows between `<!-- {name}:begin` and `<!-- {name}:end -->`, as cells.
fn table(doc: &str, name: &str) -> Vec<Vec<String>> {
    let begin = doc
        .find(&format!("<!-- {name}:begin"))
        .unwrap_or_else(|| panic!("no <!-- {name}:begin marker"));
    let end = doc
        .find(&format!("<!-- {name}:end -->"))
        .unwrap_or_else(|| panic!("no <!-- {name}:end --> marker"));
    doc[begin..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

fn unquote(cell: &str) -> String {
    cell.trim_matches('`').to_owned()
}

fn list(cell: &str) -> BTreeSet<String> {
    cell.split(',')
        .map(|s| unquote(s.trim()))
        .filter(|s| !s.is_empty() && s != "—")
        .collect()
}

fn documented() -> BTreeMap<(String, String), Row> {
    let mut rows = BTreeMap::new();
    for cells in table(&doc(), "endpoints") {
        assert_eq!(cells.len(), 6, "an endpoint row has 6 cells: {cells:?}");
        let row = Row {
            permission: cells[2].clone(),
            query: list(&cells[3]),
            statuses: list(&cells[4]),
        };
        let path = unquote(&cells[1]);
        let methods: Vec<&str> = if cells[0] == "ANY" {
            ANY.to_vec()
        } else {
            vec![cells[0].as_str()]
        };
        for method in methods {
            let previous = rows.insert((method.to_owned(), path.clone()), row.clone());
            assert!(previous.is_none(), "{method} {path} is in the table twice");
        }
    }
    rows
}

fn served() -> BTreeMap<(String, String), Row> {
    let doc: Value = serde_json::from_str(px_core::http::openapi::served()).unwrap();
    let mut rows = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let description = op["description"].as_str().unwrap_or_default();
            let permission = description
                .strip_prefix("Permission: ")
                .and_then(|rest| rest.split(". ").next())
                .unwrap_or_else(|| {
                    panic!("{method} {path}: the description does not start with `Permission: …. `")
                })
                .trim_end_matches('.')
                .to_owned();
            let query = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            let statuses = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "default")
                .cloned()
                .collect();
            rows.insert(
                (method.to_uppercase(), path.clone()),
                Row {
                    permission,
                    query,
                    statuses,
                },
            );
        }
    }
    rows
}

#[test]
fn the_endpoint_table_and_the_openapi_document_agree() {
    let documented = documented();
    let served = served();
    let only_doc: Vec<_> = documented
        .keys()
        .filter(|k| !served.contains_key(*k))
        .collect();
    let only_api: Vec<_> = served
        .keys()
        .filter(|k| !documented.contains_key(*k))
        .collect();
    assert!(
        only_doc.is_empty() && only_api.is_empty(),
        "docs/api/dev-hotload.md and /api/openapi.json list different endpoints\n  \
         only in the markdown: {only_doc:?}\n  only in OpenAPI: {only_api:?}"
    );
    let mut faults = Vec::new();
    for (key, doc_row) in &documented {
        let api_row = &served[key];
        if doc_row.permission != api_row.permission {
            faults.push(format!(
                "{} {}: permission {:?} in the markdown, {:?} in OpenAPI",
                key.0, key.1, doc_row.permission, api_row.permission
            ));
        }
        if doc_row.query != api_row.query {
            faults.push(format!(
                "{} {}: query {:?} in the markdown, {:?} in OpenAPI",
                key.0, key.1, doc_row.query, api_row.query
            ));
        }
        if doc_row.statuses != api_row.statuses {
            faults.push(format!(
                "{} {}: status codes {:?} in the markdown, {:?} in OpenAPI",
                key.0, key.1, doc_row.statuses, api_row.statuses
            ));
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

/// The events px-api defines, as (wire name, variant): each
/// `#[serde(rename = "…")]` of `LifecycleEvent` and the variant below it.
fn defined() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("crates/px-api/src/lifecycle.rs")).unwrap();
    let body = text
        .split("pub enum LifecycleEvent {")
        .nth(1)
        .expect("LifecycleEvent is defined");
    let mut events = Vec::new();
    let mut lines = body.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(name) = line
            .strip_prefix("#[serde(rename = \"")
            .and_then(|rest| rest.strip_suffix("\")]"))
        else {
            continue;
        };
        let variant = lines
            .find(|l| !l.starts_with("//") && !l.starts_with("#["))
            .unwrap_or_default();
        let ident: String = variant
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        events.push((name.to_owned(), ident));
    }
    events
}

/// All Rust source of Core, concatenated.
fn core_source() -> String {
    fn walk(dir: &std::path::Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut text = String::new();
    walk(&repo().join("crates/px-core/src"), &mut text);
    text
}

#[test]
fn the_event_table_lists_exactly_the_events_core_emits() {
    let documented: BTreeSet<String> = table(&doc(), "events")
        .iter()
        .map(|cells| unquote(&cells[0]))
        .collect();
    let defined = defined();
    let names: BTreeSet<String> = defined.iter().map(|(name, _)| name.clone()).collect();
    let wire: BTreeSet<String> = px_api::LifecycleEvent::NAMES
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        names, wire,
        "the source scan of px-api and LifecycleEvent::NAMES differ"
    );
    assert_eq!(
        documented, names,
        "docs/api/dev-hotload.md's event table and px-api's LifecycleEvent differ"
    );
    let source = core_source();
    let never: Vec<&str> = defined
        .iter()
        .filter(|(_, ident)| !source.contains(&format!("LifecycleEvent::{ident}")))
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(never.is_empty(), "events Core never emits: {never:?}");
}

#[test]
fn every_reason_code_is_documented() {
    let doc = doc();
    let codes: Value = serde_json::from_str(px_core::http::openapi::served()).unwrap();
    let codes = codes["components"]["schemas"]["ReasonCode"]["enum"]
        .as_array()
        .unwrap()
        .clone();
    assert!(codes.len() >= 11);
    for code in codes {
        let code = code.as_str().unwrap();
        assert!(
            doc.contains(&format!("`{code}`")),
            "reason code {code} is not in docs/api/dev-hotload.md"
        );
    }
}
