//! The `plugin.yaml` → manifest mapping described in the module docs of `yaml`.

mod admin;
mod permissions;
mod runtime;

use serde_json::{Map, Value};

use super::node::{Located, Node, pos};
use crate::fault::join;
use crate::span::{self, SourceMap};
use crate::validate::diagnostic;
use crate::{Diagnostic, Severity};

type Entries = [(Located, Located)];

/// Builds the manifest document while recording where each field came from.
pub(crate) struct Converter {
    map: SourceMap,
    located: Vec<Diagnostic>,
}

impl Converter {
    pub fn run(root: &Located) -> (Value, SourceMap, Vec<Diagnostic>) {
        let mut converter = Converter {
            map: SourceMap::default(),
            located: Vec::new(),
        };
        converter.record("", "", None, root);
        let document = match &root.value {
            Node::Map(entries) => Value::Object(converter.root(entries)),
            // Not a mapping: the schema says what was expected.
            other => other.to_json(),
        };
        (document, converter.map, converter.located)
    }

    fn root(&mut self, entries: &Entries) -> Map<String, Value> {
        let mut out = Map::new();
        let find = |name: &str| entries.iter().find(|(key, _)| key.value.key_text() == name);
        for (key, value) in entries {
            let name = key.value.key_text();
            let pointer = join("", &name);
            match name.as_str() {
                "manifest_version" | "id" | "name" | "version" | "description" | "dependencies"
                | "config" => {
                    let copied = self.copy(&pointer, &pointer, Some(key), value);
                    out.insert(name, copied);
                }
                "requires" => self.section(&mut out, &name, key, value, &["powerx"]),
                "build" => self.section(&mut out, &name, key, value, &["command", "files"]),
                "migrations" => {
                    if let Some(migrations) = self.migrations(key, value) {
                        out.insert(name, Value::Object(migrations));
                    }
                }
                "runtime" | "endpoints" | "frontend" | "rbac" | "permissions" => {}
                _ => self.unused(&pointer, key),
            }
        }
        out.entry("manifest_version").or_insert(Value::from(1));
        let (permissions, declared) = self.permissions(find("permissions"), find("rbac"));
        if !permissions.is_empty() {
            out.insert("permissions".to_owned(), Value::Array(permissions));
        }
        out.insert(
            "runtime".to_owned(),
            Value::Object(self.runtime(find("runtime"), find("endpoints"))),
        );
        if let Some(admin) = find("frontend").and_then(|(_, value)| self.frontend(value, &declared))
        {
            out.insert("admin".to_owned(), Value::Object(admin));
        }
        out
    }

    /// Records where the manifest field at `pointer` came from in the YAML.
    fn record(&mut self, pointer: &str, source: &str, key: Option<&Located>, value: &Located) {
        let node = span::Node {
            source: Some(source.to_owned()),
            key: key.map(pos),
            value: pos(value),
        };
        self.map.insert(pointer.to_owned(), node);
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
        self.located
            .push(diagnostic(Severity::Error, source, pos(at), message));
    }

    fn warning(&mut self, source: &str, at: &Located, message: String) {
        self.located
            .push(diagnostic(Severity::Warning, source, pos(at), message));
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
