//! The validation pipeline shared by `manifest.json` and `plugin.yaml`: schema,
//! then SDK rules, then one located diagnostic per fault.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use crate::fault::{Anchor, Fault};
use crate::span::{Pos, SourceMap, scan_json};
use crate::{Diagnostic, Loaded, Manifest, ManifestError, Severity, rules, schema};

/// Parses JSON text into a value and the positions of its parts. A syntax error
/// is one diagnostic; duplicate keys are diagnostics too.
pub(crate) fn parse_json_text(
    text: &str,
) -> Result<(Value, SourceMap, Vec<Diagnostic>), Diagnostic> {
    let document: Value = serde_json::from_str(text).map_err(|error| {
        let message = error.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(head, _)| head);
        let line = error.line().max(1);
        let line_text = text.lines().nth(line - 1).unwrap_or_default();
        let column = char_column(line_text, error.column());
        diagnostic(
            Severity::Error,
            "",
            Pos { line, column },
            format!("invalid json: {message}"),
        )
    })?;
    let (map, duplicates) = scan_json(text);
    let duplicates = duplicates
        .into_iter()
        .map(|(pointer, pos)| {
            let name = pointer
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .replace("~1", "/")
                .replace("~0", "~");
            diagnostic(
                Severity::Error,
                &pointer,
                pos,
                format!("duplicate field \"{name}\""),
            )
        })
        .collect();
    Ok((document, map, duplicates))
}

/// The 1-based character column of the `byte_column`-th byte of `line` (serde_json counts bytes).
fn char_column(line: &str, byte_column: usize) -> usize {
    let bytes = byte_column.min(line.len());
    let chars = line
        .char_indices()
        .take_while(|(at, _)| *at < bytes)
        .count();
    chars.max(1)
}

pub(crate) fn diagnostic(
    severity: Severity,
    pointer: &str,
    pos: Pos,
    message: impl Into<String>,
) -> Diagnostic {
    Diagnostic {
        severity,
        pointer: pointer.to_owned(),
        line: pos.line,
        column: pos.column,
        message: message.into(),
    }
}

/// Checks `document` (manifest-shaped JSON) against the schema and the SDK rules,
/// locates every fault with `map`, and adds `located` (diagnostics found earlier).
/// Errors anywhere make the whole manifest invalid; warnings come back in [`Loaded`].
pub(crate) fn validate(
    document: Value,
    map: &SourceMap,
    mut located: Vec<Diagnostic>,
    path: &Path,
    base_dir: Option<&Path>,
) -> Result<Loaded, ManifestError> {
    let mut faults = schema::check(&document);
    faults.extend(rules::check(&document, base_dir));
    let mut seen = HashSet::new();
    faults.retain(|fault| seen.insert((fault.pointer.clone(), fault.message.clone())));
    located.extend(faults.into_iter().map(|fault| locate(fault, map)));
    located.sort_by_key(|d| (d.line, d.column));
    let invalid = |diagnostics| ManifestError::Invalid {
        path: path.to_owned(),
        diagnostics,
    };
    if located.iter().any(|d| d.severity == Severity::Error) {
        return Err(invalid(located));
    }
    match serde_json::from_value::<Manifest>(document) {
        Ok(manifest) => Ok(Loaded {
            manifest,
            path: path.to_owned(),
            warnings: located,
        }),
        // The schema accepted what serde refused: report serde's reason rather than panic.
        Err(error) => {
            located.push(diagnostic(
                Severity::Error,
                "",
                Pos { line: 1, column: 1 },
                error.to_string(),
            ));
            Err(invalid(located))
        }
    }
}

fn locate(fault: Fault, map: &SourceMap) -> Diagnostic {
    let (pointer, pos) = map.locate(&fault.pointer, fault.anchor);
    let mut message = fault.message;
    if let Some(related) = fault.related {
        let (shown, at) = map.locate(&related, Anchor::Value);
        message = format!("{message} (first at {shown}, line {})", at.line);
    }
    if let Some(note) = map.note(&fault.pointer) {
        message = format!("{message} ({note})");
    }
    diagnostic(fault.severity, &pointer, pos, message)
}
