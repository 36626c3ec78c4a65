//! The committed `schema/manifest.v1.json` matches the Rust types. `PX_BLESS=1`
//! rewrites it.

use std::fs;
use std::path::{Path, PathBuf};

fn committed_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/manifest.v1.json")
}

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&px_manifest::json_schema()).unwrap();
    text.push('\n');
    text
}

#[test]
fn committed_schema_is_up_to_date() {
    let path = committed_path();
    if std::env::var_os("PX_BLESS").is_some_and(|v| v == "1") {
        fs::write(&path, generated()).unwrap();
    }
    let committed = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated(),
        "{} is stale: run `PX_BLESS=1 cargo test -p px-manifest --test schema` and commit it",
        path.display()
    );
}

#[test]
fn schema_carries_the_sdk_constraints() {
    let schema = px_manifest::json_schema();
    assert_eq!(
        schema.pointer("/properties/manifest_version/const"),
        Some(&1.into())
    );
    assert_eq!(
        schema
            .pointer("/properties/id/pattern")
            .and_then(|p| p.as_str()),
        Some(px_manifest::ID_PATTERN)
    );
    assert_eq!(
        schema.pointer("/properties/id/maxLength"),
        Some(&128.into())
    );
    assert_eq!(
        schema.pointer("/$defs/Health/properties/timeout_ms/minimum"),
        Some(&1.into())
    );
    assert_eq!(schema.pointer("/additionalProperties"), Some(&false.into()));
}
