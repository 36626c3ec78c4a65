//! The JSON Schema of `manifest.json`, generated from [`Manifest`], and checking a
//! document against it with messages that say what was expected.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError, Validator};
use serde_json::Value;

use crate::Manifest;
use crate::fault::{Anchor, Fault, found, join};
use crate::model::{ABSOLUTE_PATH_PATTERN, ID_PATTERN, PERMISSION_PATTERN};

/// Generates the schema. `Option` fields may be absent but not `null`: the schema
/// is stricter than serde here on purpose, so authors have one way to say "unset".
pub(crate) fn generate() -> Value {
    let mut value = schemars::schema_for!(Manifest).to_value();
    strip_null(&mut value);
    // Header keys first, so the committed file reads top-down.
    let Value::Object(mut rest) = value else {
        return value;
    };
    let mut ordered = serde_json::Map::new();
    for key in ["$schema", "title", "description"] {
        if let Some(header) = rest.shift_remove(key) {
            ordered.insert(key.to_owned(), header);
        }
    }
    ordered.extend(rest);
    Value::Object(ordered)
}

/// Removes `null` from `type` arrays and `{"type": "null"}` branches of `anyOf`.
fn strip_null(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".to_owned(), only);
                }
            }
            if let Some(Value::Array(branches)) = map.get_mut("anyOf") {
                branches.retain(|b| b.get("type").is_none_or(|t| t != "null"));
                if let [Value::Object(only)] = branches.as_slice() {
                    let only = only.clone();
                    map.remove("anyOf");
                    map.extend(only);
                }
            }
            map.values_mut().for_each(strip_null);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(generate)
}

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| jsonschema::validator_for(schema()).expect("the generated schema compiles"))
}

/// Every schema violation in `document`, one fault per violation. A value of the
/// wrong type gets only the type error, not also what its value would violate.
pub(crate) fn check(document: &Value) -> Vec<Fault> {
    let mut faults = Vec::new();
    for error in validator().iter_errors(document) {
        let is_type = matches!(error.kind(), ValidationErrorKind::Type { .. });
        faults.extend(to_faults(&error).into_iter().map(|fault| (is_type, fault)));
    }
    fractional_integers(schema(), document, "", &mut faults);
    let wrong_type: Vec<String> = faults
        .iter()
        .filter(|(is_type, _)| *is_type)
        .map(|(_, f)| f.pointer.clone())
        .collect();
    faults
        .into_iter()
        .filter(|(is_type, f)| *is_type || !wrong_type.contains(&f.pointer))
        .map(|(_, f)| f)
        .collect()
}

/// Integers written as floats (`1e3`, `1.0`, or too big for 64 bits) pass the
/// schema's `integer` type, which looks at the value, but serde refuses them:
/// report them as type errors.
fn fractional_integers(
    root: &Value,
    value: &Value,
    pointer: &str,
    faults: &mut Vec<(bool, Fault)>,
) {
    match value {
        Value::Number(number) if number.is_f64() => {
            let expects_integer = subschema(root, pointer)
                .and_then(|s| s.get("type"))
                .is_some_and(|t| t == "integer");
            let message = format!("expected an integer, found {}", found(value));
            if expects_integer
                && !faults
                    .iter()
                    .any(|(_, f)| f.pointer == pointer && f.message == message)
            {
                faults.push((true, Fault::error(pointer, message)));
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                fractional_integers(root, item, &format!("{pointer}/{index}"), faults);
            }
        }
        Value::Object(members) => {
            for (name, member) in members {
                fractional_integers(root, member, &join(pointer, name), faults);
            }
        }
        _ => {}
    }
}

fn to_faults(error: &ValidationError<'_>) -> Vec<Fault> {
    let pointer = error.instance_path().as_str();
    let instance = error.instance();
    let message = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed = allowed_fields(pointer);
            return unexpected
                .iter()
                .map(|field| {
                    let message = if allowed.is_empty() {
                        format!("unknown field \"{field}\"")
                    } else {
                        format!(
                            "unknown field \"{field}\", expected one of {}",
                            allowed.join(", ")
                        )
                    };
                    Fault::error(join(pointer, field), message).at(Anchor::Key)
                })
                .collect();
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let fault = Fault::error(
                join(pointer, name),
                format!("missing required field \"{name}\""),
            );
            return vec![fault.at(Anchor::Missing)];
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => article(*t).to_owned(),
                TypeKind::Multiple(set) => set.iter().map(article).collect::<Vec<_>>().join(" or "),
            };
            format!("expected {expected}, found {}", found(instance))
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!("expected {expected_value}, found {}", found(instance))
        }
        ValidationErrorKind::Enum { options } => {
            format!(
                "expected one of {}, found {}",
                list(options.as_array().into_iter().flatten()),
                found(instance)
            )
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            match constants(context) {
                Some(options) => format!(
                    "expected one of {}, found {}",
                    list(options),
                    found(instance)
                ),
                None => format!(
                    "expected {}, found {}",
                    error.kind().keyword(),
                    found(instance)
                ),
            }
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!(
                "expected {}, found {}",
                pattern_meaning(pattern),
                found(instance)
            )
        }
        ValidationErrorKind::MinLength { limit: 1 } => "expected a non-empty string".to_owned(),
        ValidationErrorKind::MinLength { limit } => {
            format!(
                "expected at least {limit} characters, found {}",
                char_len(instance)
            )
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!(
                "expected at most {limit} characters, found {}",
                char_len(instance)
            )
        }
        ValidationErrorKind::Minimum { limit } => {
            format!(
                "expected a number of at least {limit}, found {}",
                found(instance)
            )
        }
        ValidationErrorKind::Maximum { limit } => {
            format!(
                "expected a number of at most {limit}, found {}",
                found(instance)
            )
        }
        _ => error.to_string(),
    };
    vec![Fault::error(pointer, message)]
}

/// The field names the schema allows in the object at `pointer`, quoted.
fn allowed_fields(pointer: &str) -> Vec<String> {
    let Some(node) = subschema(schema(), pointer) else {
        return Vec::new();
    };
    let properties = node.get("properties").and_then(Value::as_object);
    properties
        .into_iter()
        .flatten()
        .map(|(name, _)| format!("\"{name}\""))
        .collect()
}

/// The subschema that applies to the instance at `pointer`, following `$ref`s.
fn subschema<'a>(root: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut node = resolve(root, root)?;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        node = if let Some(child) = node.get("properties").and_then(|p| p.get(&token)) {
            child
        } else if let Some(items) = node.get("items").filter(|_| token.parse::<usize>().is_ok()) {
            items
        } else {
            node.get("additionalProperties").filter(|a| a.is_object())?
        };
        node = resolve(root, node)?;
    }
    Some(node)
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> Option<&'a Value> {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => root.pointer(reference.strip_prefix('#')?),
        None => Some(node),
    }
}

/// When every branch of a `oneOf`/`anyOf` failed only on `const`, the constants.
fn constants<'a>(context: &'a [Vec<ValidationError<'static>>]) -> Option<Vec<&'a Value>> {
    let mut options = Vec::new();
    for branch in context {
        let mut branch_const = None;
        for error in branch {
            match error.kind() {
                ValidationErrorKind::Constant { expected_value } => {
                    branch_const = Some(expected_value.as_ref())
                }
                ValidationErrorKind::Type { .. } => {}
                _ => return None,
            }
        }
        options.push(branch_const?);
    }
    Some(options)
}

fn list<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    values
        .into_iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn char_len(value: &Value) -> usize {
    value.as_str().map_or(0, |s| s.chars().count())
}

fn article(kind: JsonType) -> &'static str {
    match kind {
        JsonType::Array => "an array",
        JsonType::Boolean => "a boolean",
        JsonType::Integer => "an integer",
        JsonType::Null => "null",
        JsonType::Number => "a number",
        JsonType::Object => "an object",
        JsonType::String => "a string",
    }
}

/// What a schema pattern means, in words.
fn pattern_meaning(pattern: &str) -> String {
    if pattern == ID_PATTERN {
        format!("a reverse-DNS id like \"com.acme.hello\" (matching {ID_PATTERN})")
    } else if pattern == PERMISSION_PATTERN {
        format!(
            "a permission key \"resource:action\" like \"hello:read\" (matching {PERMISSION_PATTERN})"
        )
    } else if pattern == ABSOLUTE_PATH_PATTERN {
        "an absolute path starting with \"/\"".to_owned()
    } else {
        format!("a string matching {pattern}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_null_from_optional_fields() {
        let schema = generate();
        assert_eq!(
            schema.pointer("/properties/description/type"),
            Some(&Value::from("string"))
        );
        assert_eq!(
            schema.pointer("/properties/requires/$ref"),
            Some(&Value::from("#/$defs/Requires"))
        );
        assert!(!schema.to_string().contains("\"null\""));
    }

    #[test]
    fn finds_subschemas_through_refs() {
        let fields = allowed_fields("/admin/menus/3");
        assert_eq!(fields.first().map(String::as_str), Some("\"id\""));
        assert!(allowed_fields("/config").is_empty());
    }
}
