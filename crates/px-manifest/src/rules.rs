//! The SDK rules: what the schema cannot say. They read the document as a JSON
//! value, so they run even when other parts of it are malformed, and each rule
//! looks only at values of the right type (the schema reports the others).
//!
//! Rules:
//! - `version` is a semver version; `requires.powerx`, `requires.corex` and
//!   every `dependencies` value is a semver range ([`semver::VersionReq`] syntax, e.g. `>=0.1, <1`).
//! - `dependencies` keys are valid plugin ids, and not the plugin's own id.
//! - menu ids are unique across the whole menu tree (children included); every
//!   key of a menu's `permission` (one, or a list) is declared in `permissions`.
//! - permission keys are unique (their format is in the schema).
//! - `admin.static_dir` is a relative path without `..`; with a base directory it
//!   must exist there as a directory.
//! - `runtime.entry` is required for `kind: "process"`; for `kind: "static"` it is
//!   ignored, with a warning.
//! - `runtime.env` names are `[A-Za-z_][A-Za-z0-9_]*`.
//! - `build.files` keys are relative paths inside `dist/` without `..`, and not
//!   `manifest.json` (which the build writes itself).

use std::collections::HashMap;
use std::path::{Component, Path};
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::fault::{Anchor, Fault, join};
use crate::model::{ID_MAX_LEN, ID_PATTERN};

/// Runs every rule over `document`; `base_dir` enables the file-system checks.
pub(crate) fn check(document: &Value, base_dir: Option<&Path>) -> Vec<Fault> {
    let mut faults = Vec::new();
    let str_at = |pointer: &str| document.pointer(pointer).and_then(Value::as_str);

    if let Some(version) = str_at("/version")
        && semver::Version::parse(version).is_err()
    {
        faults.push(Fault::error(
            "/version",
            format!(
                "expected a semver version like \"1.2.3\", found {}",
                quote(version)
            ),
        ));
    }
    for pointer in ["/requires/powerx", "/requires/corex"] {
        if let Some(range) = str_at(pointer) {
            check_range(pointer, range, &mut faults);
        }
    }
    if let Some(dependencies) = object_at(document, "/dependencies") {
        check_dependencies(dependencies, str_at("/id"), &mut faults);
    }
    check_runtime(document, &mut faults);
    let declared = check_permissions(document, &mut faults);
    check_menus(document, &declared, &mut faults);
    if let Some(dir) = str_at("/admin/static_dir") {
        check_static_dir(dir, base_dir, &mut faults);
    }
    if let Some(files) = object_at(document, "/build/files") {
        for target in files.keys() {
            let pointer = join("/build/files", target);
            if !is_relative_inside(target) {
                let message = format!(
                    "expected a relative path inside dist/ without \"..\", found {}",
                    quote(target)
                );
                faults.push(Fault::error(pointer, message).at(Anchor::Key));
            } else if Path::new(target) == Path::new(crate::MANIFEST_FILE) {
                let message = "manifest.json is written by the build itself and cannot be a target";
                faults.push(Fault::error(pointer, message).at(Anchor::Key));
            }
        }
    }
    faults
}

fn object_at<'a>(document: &'a Value, pointer: &str) -> Option<&'a Map<String, Value>> {
    document.pointer(pointer).and_then(Value::as_object)
}

fn quote(text: &str) -> String {
    Value::from(text).to_string()
}

fn check_range(pointer: &str, range: &str, faults: &mut Vec<Fault>) {
    if semver::VersionReq::parse(range).is_err() {
        faults.push(Fault::error(
            pointer,
            format!(
                "expected a semver range like \">=1.2, <2\", found {}",
                quote(range)
            ),
        ));
    }
}

/// Whether `id` is a valid plugin id (pattern and length).
pub(crate) fn is_valid_id(id: &str) -> bool {
    static ID: OnceLock<Regex> = OnceLock::new();
    let regex = ID.get_or_init(|| Regex::new(ID_PATTERN).expect("id pattern compiles"));
    id.chars().count() <= ID_MAX_LEN && regex.is_match(id)
}

fn check_dependencies(
    dependencies: &Map<String, Value>,
    own_id: Option<&str>,
    faults: &mut Vec<Fault>,
) {
    for (id, range) in dependencies {
        let pointer = join("/dependencies", id);
        if !is_valid_id(id) {
            let message = format!(
                "expected a plugin id like \"com.acme.other\" as dependency, found {}",
                quote(id)
            );
            faults.push(Fault::error(pointer.clone(), message).at(Anchor::Key));
        } else if Some(id.as_str()) == own_id {
            faults.push(
                Fault::error(pointer.clone(), "a plugin cannot depend on itself").at(Anchor::Key),
            );
        }
        if let Some(range) = range.as_str() {
            check_range(&pointer, range, faults);
        }
    }
}

fn check_runtime(document: &Value, faults: &mut Vec<Fault>) {
    let kind = document.pointer("/runtime/kind").and_then(Value::as_str);
    let entry = document.pointer("/runtime/entry");
    match (kind, entry) {
        (Some("process"), None) => {
            let message =
                "missing required field \"entry\" (a process plugin needs a program to start)";
            faults.push(Fault::error("/runtime/entry", message).at(Anchor::Missing));
        }
        (Some("static"), Some(_)) => {
            let message = "ignored: a static plugin runs no process";
            faults.push(Fault::warning("/runtime/entry", message));
        }
        _ => {}
    }
    static ENV_NAME: OnceLock<Regex> = OnceLock::new();
    let env_name = ENV_NAME
        .get_or_init(|| Regex::new("^[A-Za-z_][A-Za-z0-9_]*$").expect("env pattern compiles"));
    for name in object_at(document, "/runtime/env")
        .into_iter()
        .flat_map(Map::keys)
    {
        if !env_name.is_match(name) {
            let message = format!(
                "expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*), found {}",
                quote(name)
            );
            faults.push(Fault::error(join("/runtime/env", name), message).at(Anchor::Key));
        }
    }
}

/// Reports duplicate permission keys; returns every declared key.
fn check_permissions(document: &Value, faults: &mut Vec<Fault>) -> Vec<String> {
    let mut first_at: HashMap<&str, String> = HashMap::new();
    let permissions = document.pointer("/permissions").and_then(Value::as_array);
    for (index, permission) in permissions.into_iter().flatten().enumerate() {
        let Some(key) = permission.get("key").and_then(Value::as_str) else {
            continue;
        };
        let pointer = format!("/permissions/{index}/key");
        match first_at.get(key) {
            Some(first) => {
                let message = format!("duplicate permission {}", quote(key));
                faults.push(Fault::error(pointer, message).related(first.clone()));
            }
            None => {
                first_at.insert(key, pointer);
            }
        }
    }
    first_at.into_keys().map(str::to_owned).collect()
}

/// Menu ids are unique across the whole tree (children included), and every
/// key of a menu's `permission` (a string or a list) is declared.
fn check_menus(document: &Value, declared: &[String], faults: &mut Vec<Fault>) {
    let mut first_at = HashMap::new();
    if let Some(menus) = document.pointer("/admin/menus").and_then(Value::as_array) {
        check_menu_list("/admin/menus", menus, declared, &mut first_at, faults);
    }
}

fn check_menu_list<'a>(
    pointer: &str,
    menus: &'a [Value],
    declared: &[String],
    first_at: &mut HashMap<&'a str, String>,
    faults: &mut Vec<Fault>,
) {
    for (index, menu) in menus.iter().enumerate() {
        let pointer = format!("{pointer}/{index}");
        if let Some(id) = menu.get("id").and_then(Value::as_str) {
            let id_pointer = format!("{pointer}/id");
            match first_at.get(id) {
                Some(first) => faults.push(
                    Fault::error(id_pointer, format!("duplicate menu id {}", quote(id)))
                        .related(first.clone()),
                ),
                None => {
                    first_at.insert(id, id_pointer);
                }
            }
        }
        let keys: Vec<(String, &str)> = match menu.get("permission") {
            Some(Value::String(key)) => vec![(format!("{pointer}/permission"), key.as_str())],
            Some(Value::Array(keys)) => keys
                .iter()
                .enumerate()
                .filter_map(|(at, key)| Some((format!("{pointer}/permission/{at}"), key.as_str()?)))
                .collect(),
            _ => Vec::new(),
        };
        for (key_pointer, key) in keys {
            if !declared.iter().any(|known| known == key) {
                let message = format!(
                    "expected a permission key declared in \"permissions\", found {}",
                    quote(key)
                );
                faults.push(Fault::error(key_pointer, message));
            }
        }
        if let Some(children) = menu.get("children").and_then(Value::as_array) {
            check_menu_list(
                &format!("{pointer}/children"),
                children,
                declared,
                first_at,
                faults,
            );
        }
    }
}

fn check_static_dir(dir: &str, base_dir: Option<&Path>, faults: &mut Vec<Fault>) {
    const POINTER: &str = "/admin/static_dir";
    if !is_relative_inside(dir) {
        let message = format!(
            "expected a relative path inside the plugin without \"..\", found {}",
            quote(dir)
        );
        faults.push(Fault::error(POINTER, message));
        return;
    }
    let Some(base) = base_dir else { return };
    let path = base.join(dir);
    if !path.exists() {
        faults.push(Fault::error(
            POINTER,
            format!(
                "expected an existing directory, {} does not exist",
                quote(dir)
            ),
        ));
    } else if !path.is_dir() {
        faults.push(Fault::error(
            POINTER,
            format!("expected a directory, {} is not one", quote(dir)),
        ));
    }
}

/// A non-empty relative path whose components are all normal names (`.` allowed).
pub(crate) fn is_relative_inside(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("com.acme.hello"));
        assert!(is_valid_id("a.b"));
        assert!(!is_valid_id("hello"));
        assert!(!is_valid_id("Com.acme"));
        assert!(!is_valid_id(&format!("com.{}", "a".repeat(130))));
    }

    #[test]
    fn relative_paths() {
        assert!(is_relative_inside("admin"));
        assert!(is_relative_inside("./web/dist"));
        assert!(!is_relative_inside(""));
        assert!(!is_relative_inside("/abs"));
        assert!(!is_relative_inside("a/../../b"));
        assert!(!is_relative_inside("a\\b"));
    }
}
