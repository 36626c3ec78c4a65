//! Reading PowerX's own `plugin.yaml` into the manifest model.
//!
//! The YAML is turned into a manifest-shaped JSON document, which then goes
//! through the same schema and SDK rules as `manifest.json`. Every manifest field
//! remembers the YAML key it came from, so diagnostics name the YAML pointer and
//! its line and column. Mapping (`manifest` ← `plugin.yaml`):
//!
//! | manifest | plugin.yaml |
//! |---|---|
//! | `manifest_version` | `manifest_version`, else `1` |
//! | `id`, `name`, `version`, `description`, `requires.powerx`, `dependencies`, `config`, `build` | same keys |
//! | `runtime.kind` | `runtime.kind`: `process`, `binary`, `exec` → `process`; `static`, `none` → `static`; absent → `process` when `runtime.entry` is set, else `static` (also when `runtime` is absent) |
//! | `runtime.entry`, `args`, `env` | same keys under `runtime` |
//! | `runtime.health.path` | `runtime.health.http` (or `path`) |
//! | `runtime.health.timeout_ms`, `interval_ms` | `runtime.health.timeout`, `interval`: `"500ms"`, `"15s"`, `"2m"`, or an integer in milliseconds (or `timeout_ms`, `interval_ms`) |
//! | `runtime.http_base_path` | `endpoints.http_base_path` (or `runtime.http_base_path`) |
//! | `admin.static_dir` | `frontend.admin.static_dir` |
//! | `admin.process` | `frontend.admin.process{entry,args,env,health}` (health as under `runtime`; `frontend.admin.kind` `process` or `static` is read and says nothing more) |
//! | `admin.menus[]` | `frontend.admin.menus[]`: `id`, `title`, `path` (else `route`), `icon`, `order`, and as `permission` the first of `required_policies` that the file declares (or `permission`) |
//! | `permissions[]` | `permissions[]` (a `"resource:action"` string or `{key, description}`), then `rbac.resources[]` × `actions` → `"resource:action"` |
//!
//! Everything else (another `frontend.admin.kind`, a menu's
//! `route` beside its `path`, undeclared `required_policies`, unknown keys) is
//! reported as a warning and ignored. Values of the wrong type stay errors.

mod convert;
mod node;

use std::path::Path;

use serde_json::Value;

use crate::span::{Pos, SourceMap};
use crate::validate::diagnostic;
use crate::{Diagnostic, Severity};

/// Parses `plugin.yaml` text into a manifest-shaped document, its source map,
/// and the diagnostics found while mapping it. A YAML syntax error is one
/// diagnostic. `dir`, the plugin directory, is where `catalogs` and i18n files
/// are read (without it they are not).
pub(crate) fn convert(
    text: &str,
    dir: Option<&Path>,
) -> Result<(Value, SourceMap, Vec<Diagnostic>), Diagnostic> {
    let root = parse(text)?;
    Ok(convert::Converter::run(&root, dir))
}

/// Parses YAML text into located nodes. A syntax error is one diagnostic.
pub(crate) fn parse(text: &str) -> Result<node::Located, Diagnostic> {
    // YAML 1.2 booleans only: `name: N` or `title: yes` stay strings.
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).map_err(syntax_error)
}

fn syntax_error(error: serde_saphyr::Error) -> Diagnostic {
    let pos = error
        .location()
        .map_or(Pos { line: 1, column: 1 }, |location| Pos {
            line: usize::try_from(location.line()).unwrap_or(1).max(1),
            column: usize::try_from(location.column()).unwrap_or(1).max(1),
        });
    let options = serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
    let rendered = error.render_with_options(options);
    let message = rendered.lines().next().unwrap_or_default();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head);
    // Advice meant for the programmer, not the plugin author.
    let message = message
        .split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(message);
    diagnostic(Severity::Error, "", pos, format!("invalid yaml: {message}"))
}
