//! A fault found in a document, before it is located in the source file.

use crate::Severity;

/// Where in the source a fault points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// At the value.
    Value,
    /// At the key naming the value (an unknown field, a bad map key).
    Key,
    /// The value is missing: at the nearest existing parent.
    Missing,
}

/// One fault, named by the JSON pointer of the manifest field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub severity: Severity,
    pub pointer: String,
    pub anchor: Anchor,
    pub message: String,
    /// Another place the message refers to (the first of two duplicates); its
    /// location is appended to the message once known.
    pub related: Option<String>,
}

impl Fault {
    /// An error at the value of `pointer`.
    pub fn error(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Fault {
            severity: Severity::Error,
            pointer: pointer.into(),
            anchor: Anchor::Value,
            message: message.into(),
            related: None,
        }
    }

    /// A warning at the value of `pointer`.
    pub fn warning(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Fault {
            severity: Severity::Warning,
            ..Fault::error(pointer, message)
        }
    }

    /// The same fault, referring to the field at `pointer` too.
    pub fn related(self, pointer: String) -> Self {
        Fault {
            related: Some(pointer),
            ..self
        }
    }

    /// The same fault, pointing at `anchor`.
    pub fn at(self, anchor: Anchor) -> Self {
        Fault { anchor, ..self }
    }
}

/// Appends one escaped reference token to a JSON pointer (RFC 6901).
pub(crate) fn join(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

/// Renders a JSON value for "found …" in messages: scalars literally (shortened),
/// containers by kind.
pub(crate) fn found(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        scalar => {
            let text = scalar.to_string();
            if text.chars().count() > 60 {
                let short: String = text.chars().take(57).collect();
                format!("{short}…")
            } else {
                text
            }
        }
    }
}
