//! The `plugin.yaml` → manifest mapping described in the module docs of `yaml`.

mod admin;
mod catalogs;
mod i18n;
mod permissions;
mod runtime;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::node::{Located, Node, pos};
use crate::fault::join;
use crate::span::{self, Pos, SourceMap};
use crate::validate::diagnostic;
use crate::{Diagnostic, Severity};

type Entries = [(Located, Located)];

/// PowerX sections that are read (PowerX's Core keeps them) but not acted on here.
const NOT_ACTED_ON: &[&str] = &[
    "routes",
    "events",
    "agents",
    "tools",
    "workflows",
    "capabilities",
    "agent_tools",
    "exposure",
    "data_usage",
    "metadata",
    "signature",
    "checksums",
    "assets",
    "security_baseline_version",
    // legacy: PowerX's Core reads only `frontend.admin.menus`
    "menus",
];

/// A top-level value merged in from a `catalogs` file.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    /// The file, as named under `catalogs` (relative to the plugin directory).
    file: String,
    /// The `catalogs.<key>` value in plugin.yaml that pulled it in.
    at: Pos,
}

/// Builds the manifest document while recording where each field came from.
pub(crate) struct Converter {
    map: SourceMap,
    located: Vec<Diagnostic>,
    /// The plugin directory, when known: catalogs and i18n files are read there.
    dir: Option<PathBuf>,
    /// Top-level keys merged in from catalogs.
    origins: HashMap<String, Origin>,
    /// The origin of the section being converted, when it came from a catalog.
    origin: Option<Origin>,
}

impl Converter {
    pub fn run(root: &Located, dir: Option<&Path>) -> (Value, SourceMap, Vec<Diagnostic>) {
        let mut converter = Converter {
            map: SourceMap::default(),
            located: Vec::new(),
            dir: dir.map(Path::to_owned),
            origins: HashMap::new(),
            origin: None,
        };
        converter.record("", "", None, root);
        let document = match &root.value {
            Node::Map(entries) => {
                let entries = converter.merge_catalogs(entries);
                Value::Object(converter.root(&entries))
            }
            // Not a mapping: the schema says what was expected.
            other => other.to_json(),
        };
        (document, converter.map, converter.located)
    }

    fn root(&mut self, entries: &Entries) -> Map<String, Value> {
        let mut out = Map::new();
        let mut requires = Map::new();
        let find = |name: &str| entries.iter().find(|(key, _)| key.value.key_text() == name);
        for (key, value) in entries {
            let name = key.value.key_text();
            let pointer = join("", &name);
            match name.as_str() {
                "manifest_version" | "id" | "name" | "version" | "description" | "config" => {
                    let copied = self.copy(&pointer, &pointer, Some(key), value);
                    out.insert(name, copied);
                }
                "dependencies" => {
                    if let Some(dependencies) = self.dependencies(key, value) {
                        out.insert(name, dependencies);
                    }
                }
                "requires" => {
                    self.record(&pointer, &pointer, Some(key), value);
                    if let Some(entries) = self.mapping(&pointer, value) {
                        self.fields(
                            &mut requires,
                            &pointer,
                            &pointer,
                            entries,
                            &["powerx", "corex"],
                        );
                    }
                }
                "corex_version" => {
                    let copied = self.copy("/requires/corex", &pointer, Some(key), value);
                    requires.insert("corex".to_owned(), copied);
                }
                "build" => self.section(&mut out, &name, key, value, &["command", "files"]),
                "migrations" => {
                    if let Some(migrations) = self.migrations(key, value) {
                        out.insert(name, Value::Object(migrations));
                    }
                }
                "runtime" | "endpoints" | "backend" | "frontend" | "rbac" | "permissions"
                | "catalogs" => {}
                known if NOT_ACTED_ON.contains(&known) => {}
                _ => self.unused(&pointer, key),
            }
        }
        if !requires.is_empty() {
            out.insert("requires".to_owned(), Value::Object(requires));
        }
        out.entry("manifest_version").or_insert(Value::from(1));
        let (permissions, declared) = self.permissions(find("permissions"), find("rbac"));
        if !permissions.is_empty() {
            out.insert("permissions".to_owned(), Value::Array(permissions));
        }
        let runtime = self.runtime(find("runtime"), find("endpoints"), find("backend"));
        out.insert("runtime".to_owned(), Value::Object(runtime));
        if let Some(admin) = find("frontend").and_then(|(_, value)| self.frontend(value, &declared))
        {
            out.insert("admin".to_owned(), Value::Object(admin));
        }
        out
    }

    /// `dependencies` as a map (id → range), or PowerX's `{requires, conflicts}`
    /// where each `requires` item is `"<id>"` or `"<id> <range>"`.
    fn dependencies(&mut self, key: &Located, value: &Located) -> Option<Value> {
        const POINTER: &str = "/dependencies";
        let powerx_shape = match &value.value {
            Node::Map(entries) => {
                !entries.is_empty()
                    && entries.iter().all(|(key, _)| {
                        matches!(key.value.key_text().as_str(), "requires" | "conflicts")
                    })
            }
            _ => false,
        };
        if !powerx_shape {
            return Some(self.copy(POINTER, POINTER, Some(key), value));
        }
        self.record(POINTER, POINTER, Some(key), value);
        let mut out = Map::new();
        for (key, value) in self.mapping(POINTER, value).unwrap_or_default() {
            let name = key.value.key_text();
            let source = join(POINTER, &name);
            if matches!(value.value, Node::Null) {
                continue;
            }
            let items = self.sequence(&source, value).unwrap_or_default();
            if name == "conflicts" {
                if !items.is_empty() {
                    let message = "conflicts are not checked: installing beside a conflicting plugin is not refused";
                    self.warning(&source, key, message.to_owned());
                }
                continue;
            }
            for (index, item) in items.iter().enumerate() {
                let item_source = format!("{source}/{index}");
                let Some(text) = self.string(&item_source, item) else {
                    continue;
                };
                let (id, range) = match text.trim().split_once(char::is_whitespace) {
                    Some((id, range)) => (id, range.trim()),
                    None => (text.trim(), "*"),
                };
                self.record(&join(POINTER, id), &item_source, Some(item), item);
                out.insert(id.to_owned(), Value::from(range));
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }

    /// Records where the manifest field at `pointer` came from in the YAML.
    fn record(&mut self, pointer: &str, source: &str, key: Option<&Located>, value: &Located) {
        let (at, note) = self.place(value);
        let node = span::Node {
            source: Some(source.to_owned()),
            key: key.map(|key| self.place(key).0),
            value: at,
            note,
        };
        self.map.insert(pointer.to_owned(), node);
    }

    /// Where a node is reported: its own position, or, for a node of a catalog
    /// file, the `catalogs` entry of plugin.yaml and a note naming the file.
    fn place(&self, node: &Located) -> (Pos, Option<String>) {
        match &self.origin {
            None => (pos(node), None),
            Some(origin) => {
                let Pos { line, column } = pos(node);
                let note = format!("in {} at line {line}, column {column}", origin.file);
                (origin.at, Some(note))
            }
        }
    }

    /// Converts the top-level section `name` with its origin (a catalog or plugin.yaml).
    fn within<T>(&mut self, name: &str, convert: impl FnOnce(&mut Self) -> T) -> T {
        let outer = self.origin.take();
        self.origin = self.origins.get(name).cloned();
        let result = convert(self);
        self.origin = outer;
        result
    }

    /// Copies a YAML value as is, recording every part of it.
    fn copy(
        &mut self,
        pointer: &str,
        source: &str,
        key: Option<&Located>,
        value: &Located,
    ) -> Value {
        self.record(pointer, source, key, value);
        match &value.value {
            Node::Seq(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.copy(
                        &format!("{pointer}/{index}"),
                        &format!("{source}/{index}"),
                        None,
                        item,
                    );
                }
            }
            Node::Map(entries) => {
                for (key, item) in entries {
                    let name = key.value.key_text();
                    self.copy(&join(pointer, &name), &join(source, &name), Some(key), item);
                }
            }
            _ => {}
        }
        value.value.to_json()
    }

    fn error(&mut self, source: &str, at: &Located, message: String) {
        self.report(Severity::Error, source, at, message);
    }

    fn warning(&mut self, source: &str, at: &Located, message: String) {
        self.report(Severity::Warning, source, at, message);
    }

    fn report(&mut self, severity: Severity, source: &str, at: &Located, message: String) {
        let (at, note) = self.place(at);
        let message = match note {
            Some(note) => format!("{message} ({note})"),
            None => message,
        };
        self.located.push(diagnostic(severity, source, at, message));
    }

    fn unused(&mut self, source: &str, key: &Located) {
        let message = format!("unused field \"{}\" is ignored", key.value.key_text());
        self.warning(source, key, message);
    }

    fn mapping<'a>(&mut self, source: &str, node: &'a Located) -> Option<&'a Entries> {
        match &node.value {
            Node::Map(entries) => Some(entries),
            other => {
                self.error(
                    source,
                    node,
                    format!("expected a mapping, found {}", other.found()),
                );
                None
            }
        }
    }

    fn sequence<'a>(&mut self, source: &str, node: &'a Located) -> Option<&'a [Located]> {
        match &node.value {
            Node::Seq(items) => Some(items),
            other => {
                self.error(
                    source,
                    node,
                    format!("expected a sequence, found {}", other.found()),
                );
                None
            }
        }
    }

    fn string<'a>(&mut self, source: &str, node: &'a Located) -> Option<&'a str> {
        match &node.value {
            Node::Str(text) => Some(text),
            other => {
                self.error(
                    source,
                    node,
                    format!("expected a string, found {}", other.found()),
                );
                None
            }
        }
    }

    /// Copies the `allowed` fields of a mapping found under the same name in both
    /// formats (`pointer` = `source`); warns about the others.
    fn fields(
        &mut self,
        out: &mut Map<String, Value>,
        pointer: &str,
        source: &str,
        entries: &Entries,
        allowed: &[&str],
    ) {
        for (key, value) in entries {
            let name = key.value.key_text();
            if allowed.contains(&name.as_str()) {
                let copied = self.copy(
                    &join(pointer, &name),
                    &join(source, &name),
                    Some(key),
                    value,
                );
                out.insert(name, copied);
            } else {
                self.unused(&join(source, &name), key);
            }
        }
    }

    /// A top-level mapping with the same name and fields in both formats.
    fn section(
        &mut self,
        out: &mut Map<String, Value>,
        name: &str,
        key: &Located,
        value: &Located,
        allowed: &[&str],
    ) {
        let pointer = join("", name);
        self.record(&pointer, &pointer, Some(key), value);
        if let Some(entries) = self.mapping(&pointer, value) {
            let mut section = Map::new();
            self.fields(&mut section, &pointer, &pointer, entries, allowed);
            out.insert(name.to_owned(), Value::Object(section));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NOT_ACTED_ON;

    /// The guide for PowerX authors lists every section read and not acted on.
    #[test]
    fn the_powerx_guide_names_every_section_not_acted_on() {
        let guide = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/guides/powerx-plugins.md"
        );
        let guide = std::fs::read_to_string(guide).unwrap();
        for section in NOT_ACTED_ON {
            assert!(
                guide.contains(&format!("`{section}`")),
                "docs/guides/powerx-plugins.md does not name `{section}`"
            );
        }
    }
}
