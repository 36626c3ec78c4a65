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
//! | `id`, `name`, `version`, `description`, `config`, `build` | same keys |
//! | `requires.powerx` | `requires.powerx` |
//! | `requires.corex` | `corex_version` (or `requires.corex`), a semver range |
//! | `dependencies` | `dependencies` as a map id → range; or PowerX's `{requires: [..], conflicts: [..]}`, each `requires` item `"<id>"` (range `*`) or `"<id> <range>"`; a non-empty `conflicts` is a warning (not checked) |
//! | `runtime.kind` | `runtime.kind`: `process`, `binary`, `exec` → `process`; `static`, `none` → `static`; absent → `process` when there is an entry, else `static` (also when `runtime` is absent) |
//! | `runtime.entry`, `args` | same keys under `runtime`; without `runtime.entry` (and unless `runtime.kind` is static), legacy `backend.entry` |
//! | `runtime.env`, `admin.process.env` | same keys; `${VAR}` / `${VAR:-default}` kept as written (Core expands them); YAML numbers and booleans as their text, null as `""` |
//! | `runtime.health.path` | `runtime.health.http` (or `path`), else legacy `backend.health` (a path) |
//! | `runtime.health.probe_timeout_ms` | `runtime.health.timeout` (one probe): `"500ms"`, `"15s"`, `"2m"`, `"1h"`, or an integer in milliseconds |
//! | `runtime.health.interval_ms` | `runtime.health.interval` (same units) |
//! | `runtime.health.timeout_ms` | `timeout_ms` if written, else 30000 for a process plugin (PowerX's 30 s startup deadline) |
//! | `runtime.http_base_path` | `endpoints.http_base_path` (or `runtime.http_base_path`) |
//! | `admin.static_dir` | `frontend.admin.static_dir` |
//! | `admin.process` | `frontend.admin.process{entry,args,env,health}` (health as under `runtime`, path `/` when not given); or, for `kind: nuxt` with `frontend.admin.entry` and no `process`, `{entry: "node", args: [<entry>]}` |
//! | `admin.menus[]` | `frontend.admin.menus[]`, recursively through `children`: `id`, `title`, `path` (else `/` + `route`), `icon`, `order`; `permission` = every `required_policies` entry that the file declares (or `permission`); `title_i18n` = the text of `title_i18n.key` in each locale's i18n file; without `title`: `title_i18n.default`, else the default locale's text, else `title_i18n.key` |
//! | (i18n files) | `frontend.admin.i18n{dir,format,default_namespace,namespaces,locales}`: `<dir>/<locale>/<namespace>.json` (or `.yaml`, `.yml`; keys split on `.` through nested objects) and `<dir>/<locale>.json`; `dir` is relative to the plugin directory, `<static_dir>/i18n` when absent; locales and namespaces are scanned when not listed; default namespace `menus`. Read only when the plugin directory is known |
//! | `permissions[]` | `permissions[]` items (`"resource:action"`, `{key, description}`, or `{resource, actions[], description}`), then `rbac.resources[]` (`{resource, actions[], description}`): one key `<resource>:<action>` per action (`base:template` + `read` → `base:template:read`). A key in both lists is one permission; twice in one list, a warning |
//! | (merged sections) | `catalogs{rbac,events,capabilities,exposure,agent_tools}`: paths relative to the plugin directory; `rbac` brings `rbac`, `permissions`, `routes`, the others their own key, each from the file's top level or under `manifest:` (a file with top-level `resources` is the `rbac` value). A key set (non-empty) in both files, a path outside the plugin and a missing or unreadable file are errors; faults inside a catalog are placed at its `catalogs` entry, naming the file, line and column. Without the plugin directory, a warning that they were not read |
//! | `migrations` | `migrations{entry,args,workdir,once}`, `timeout` → `timeout_ms` (same units); `driver` read, not acted on |
//!
//! Read and not acted on, without a warning: `routes`, `events`, `agents`,
//! `tools`, `workflows`, `capabilities`, `agent_tools`, `exposure`,
//! `data_usage`, `metadata`, `signature`, `checksums`, `assets`,
//! `security_baseline_version`, top-level (legacy) `menus`, `endpoints.grpc`,
//! `backend.port` (Core picks the port), `frontend.admin.kind` `process`,
//! `static`, `proxy`, `nuxt`, `frontend.admin.routes` and `proxy_base_path`,
//! a menu's `slot` and `visible`, a menu's `route` naming the same page as its
//! `path`, and PowerX's extra permission fields (`path`, `method`, `label`, …).
//!
//! Warnings, each something the author can act on: unknown keys; another
//! `frontend.admin.kind`; a `route` that differs from its `path`; a
//! `required_policies` entry declared nowhere (dropped; declare it under
//! `rbac.resources` or `permissions`); a duplicate permission in one list; a
//! non-empty `dependencies.conflicts`; an `i18n.dir` that does not exist (or is
//! outside the plugin), an
//! unknown `i18n.format`, an i18n file that does not parse; catalogs without
//! the plugin directory. Values of the wrong type, and what cannot work, are errors.

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
