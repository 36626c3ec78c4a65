//! The PowerX plugin manifest: the `manifest.json` v1 model, its JSON Schema,
//! SDK validation with located diagnostics, and reading PowerX's `plugin.yaml`
//! into the same model.
//!
//! This crate reads files and nothing else: no network, no processes, no async.
//! It does not know about bundles (`px-bundle`) or how Core runs a plugin.
//!
//! # Validation
//!
//! [`parse_json`], [`parse_plugin_yaml`] and [`load_dir`] report **every** fault
//! at once, as [`Diagnostic`]s in file order: JSON pointer of the field, 1-based
//! line and column (characters) in the file, and a lowercase message saying what
//! was expected. [`Diagnostic::render`] prints one as
//! `file:line:column: error|warning: <pointer>: <message>`. A missing field is
//! placed at its parent object; an unknown field or a bad map key at its key.
//!
//! A document is checked in three steps:
//! 1. syntax (one diagnostic; duplicate JSON keys are errors too);
//! 2. the schema of [`json_schema`] (types, required and unknown fields,
//!    `manifest_version` = 1, the id pattern [`ID_PATTERN`] and at most
//!    [`ID_MAX_LEN`] characters, permission keys [`PERMISSION_PATTERN`],
//!    `health.path` / `http_base_path` / menu paths absolute, `health.timeout_ms` ≥ 1);
//! 3. the SDK rules the schema cannot say: `version` is semver; `requires.powerx`,
//!    `requires.corex` and `dependencies` values are semver ranges; dependency ids are valid ids and
//!    not the plugin itself; menu ids are unique across the menu tree (children
//!    included); every key of a menu's `permission` is declared in `permissions`;
//!    no permission key twice (in `manifest.json`); `admin.static_dir` is relative
//!    without `..` and, when a base directory is given, is a directory there;
//!    `runtime.entry` is required for `kind: "process"` and, for `kind: "static"`,
//!    ignored with a warning; `runtime.env` names are `[A-Za-z_][A-Za-z0-9_]*`;
//!    `build.files` targets are relative paths without `..` and not `manifest.json`.
//!
//! # `plugin.yaml`
//!
//! PowerX's descriptor is mapped onto the same model (the full table is in the
//! `yaml` module) and then validated the same way; diagnostics name the YAML
//! keys. E.g. `runtime.health.http` → `runtime.health.path`, `timeout: 3s` (one
//! probe) → `probe_timeout_ms: 3000` with a 30 s startup budget,
//! `endpoints.http_base_path` → `runtime.http_base_path`, `frontend.admin` →
//! `admin` with nested menus, all declared `required_policies` and titles per
//! locale from the i18n files, `permissions[]` / `rbac.resources[]` `{resource,
//! actions}` → `permissions` `resource:action` (merged), `dependencies.requires`
//! → `dependencies`, `corex_version` → `requires.corex`. [`parse_plugin_yaml`]'s
//! and [`load_dir`]'s directory is where `catalogs` (`plugin.d/*.yaml`) and i18n
//! files are read. PowerX sections that are read but not acted on are silent;
//! only what the author could act on is a warning, never an error; what cannot
//! work is an error. Scalars follow YAML 1.2: `yes`, `no`, `N` are strings.

mod fault;
mod model;
mod rules;
mod schema;
mod span;
mod validate;
mod yaml;

pub use model::*;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Name of the manifest file at a plugin project root and inside `dist/`.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Name of PowerX's own plugin descriptor, read when there is no `manifest.json`.
pub const PLUGIN_YAML_FILE: &str = "plugin.yaml";

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The manifest cannot be used.
    Error,
    /// Reported, but the manifest is usable (e.g. an ignored `plugin.yaml` field).
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One fault in a manifest, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// JSON pointer of the faulty field, e.g. `/runtime/health/path` (`""` = whole document).
    pub pointer: String,
    /// 1-based line in the file (of the value at `pointer`, or its nearest existing parent).
    pub line: usize,
    /// 1-based column in the file.
    pub column: usize,
    /// What is wrong and what was expected, lowercase, e.g. `expected an absolute path starting with "/", found "healthz"`.
    pub message: String,
}

impl Diagnostic {
    /// Renders the diagnostic as one line the way every tool prints it:
    /// `file:line:column: error|warning: <pointer>: <message>`, with `(root)` for
    /// the empty pointer (the whole document).
    pub fn render(&self, file: &str) -> String {
        let pointer = if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        };
        format!(
            "{file}:{}:{}: {}: {pointer}: {}",
            self.line, self.column, self.severity, self.message
        )
    }
}

/// A manifest that passed validation, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated model.
    pub manifest: Manifest,
    /// The file it was read from (`manifest.json` or `plugin.yaml`).
    pub path: PathBuf,
    /// Warnings (never errors).
    pub warnings: Vec<Diagnostic>,
}

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Neither `manifest.json` nor `plugin.yaml` exists in the directory.
    #[error("no manifest.json or plugin.yaml in {}", dir.display())]
    NotFound {
        /// Directory searched.
        dir: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// File being read.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but has faults; every fault is listed.
    #[error("{} has {} error(s)", path.display(), diagnostics.iter().filter(|d| d.severity == Severity::Error).count())]
    Invalid {
        /// File with the faults.
        path: PathBuf,
        /// All faults (errors and warnings), in file order.
        diagnostics: Vec<Diagnostic>,
    },
}

/// Loads and validates the manifest of a plugin project or `dist/` directory:
/// `manifest.json`, else `plugin.yaml`. Checks that need the directory (e.g.
/// `admin.static_dir` exists) are run against `dir`.
pub fn load_dir(dir: &Path) -> Result<Loaded, ManifestError> {
    let json = dir.join(MANIFEST_FILE);
    let yaml = dir.join(PLUGIN_YAML_FILE);
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
            path: path.to_owned(),
            source,
        })
    };
    if json.is_file() {
        parse_json(&read(&json)?, &json, Some(dir))
    } else if yaml.is_file() {
        parse_plugin_yaml(&read(&yaml)?, &yaml, Some(dir))
    } else {
        Err(ManifestError::NotFound {
            dir: dir.to_owned(),
        })
    }
}

/// Parses and validates `manifest.json` text. `path` names the file in diagnostics;
/// `base_dir`, when given, enables the checks that need the directory.
pub fn parse_json(
    text: &str,
    path: &Path,
    base_dir: Option<&Path>,
) -> Result<Loaded, ManifestError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match validate::parse_json_text(text) {
        Ok((document, map, located)) => validate::validate(document, &map, located, path, base_dir),
        Err(syntax) => Err(ManifestError::Invalid {
            path: path.to_owned(),
            diagnostics: vec![syntax],
        }),
    }
}

/// Parses PowerX `plugin.yaml` text into the same model (see the crate docs for
/// the mapping); fields this project does not use become warnings. `path` and
/// `base_dir` work as in [`parse_json`]; `base_dir` is also where `catalogs`
/// and i18n files are read (without it, they are not).
pub fn parse_plugin_yaml(
    text: &str,
    path: &Path,
    base_dir: Option<&Path>,
) -> Result<Loaded, ManifestError> {
    match yaml::convert(text, base_dir) {
        Ok((document, map, located)) => validate::validate(document, &map, located, path, base_dir),
        Err(syntax) => Err(ManifestError::Invalid {
            path: path.to_owned(),
            diagnostics: vec![syntax],
        }),
    }
}

/// The `id` and `version` of a manifest that may not validate, when they can
/// still be read as strings: `text` is `manifest.json`, or `plugin.yaml` when
/// `path` ends in `.yaml` or `.yml`.
pub fn identity(text: &str, path: &Path) -> (Option<String>, Option<String>) {
    let is_yaml = path
        .extension()
        .is_some_and(|ext| ext == "yaml" || ext == "yml");
    let document = if is_yaml {
        yaml::parse(text).ok().map(|root| root.value.to_json())
    } else {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        serde_json::from_str::<serde_json::Value>(text).ok()
    };
    let field = |name: &str| document.as_ref()?.get(name)?.as_str().map(str::to_owned);
    (field("id"), field("version"))
}

/// The JSON Schema of `manifest.json` v1, generated from [`Manifest`].
/// The committed copy lives at `schema/manifest.v1.json`.
pub fn json_schema() -> serde_json::Value {
    schema::generate()
}

impl Manifest {
    /// The manifest as written into `dist/manifest.json`: pretty JSON without `build`.
    pub fn to_dist_json(&self) -> String {
        let dist = Manifest {
            build: None,
            ..self.clone()
        };
        let mut text = serde_json::to_string_pretty(&dist).expect("a manifest always serializes");
        text.push('\n');
        text
    }
}
