//! Printing manifest diagnostics in px-manifest's one-line form,
//! `file:line:column: error|warning: <pointer>: <message>`, colored on a terminal.

use std::path::Path;

use owo_colors::OwoColorize as _;
use px_manifest::{Diagnostic, Severity};

/// Prints every diagnostic on stderr.
pub fn print_all(path: &Path, diagnostics: &[Diagnostic]) {
    let file = path.display().to_string();
    for diagnostic in diagnostics {
        let line = diagnostic.render(&file);
        let marker = format!(" {}: ", diagnostic.severity);
        let Some((location, rest)) = line.split_once(&marker) else {
            anstream::eprintln!("{line}");
            continue;
        };
        let severity = match diagnostic.severity {
            Severity::Error => "error:".red().bold().to_string(),
            Severity::Warning => "warning:".yellow().bold().to_string(),
        };
        anstream::eprintln!("{} {severity} {rest}", location.bold());
    }
}

/// The number of errors (not warnings) in `diagnostics`.
pub fn error_count(diagnostics: &[Diagnostic]) -> usize {
    diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count()
}
