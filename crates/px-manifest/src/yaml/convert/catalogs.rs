//! `catalogs`: top-level sections kept in `plugin.d/*.yaml` files, merged into
//! plugin.yaml the way PowerX's Core does it: shallow, and a section set in both
//! files is an error (not a deep merge, no override).

use std::fs;

use super::{Converter, Entries, Origin};
use crate::fault::join;
use crate::rules::is_relative_inside;
use crate::yaml::node::{Located, Node, pos};

/// Each catalog and the top-level sections it brings.
const CATALOGS: &[(&str, &[&str])] = &[
    ("capabilities", &["capabilities"]),
    ("exposure", &["exposure"]),
    ("agent_tools", &["agent_tools"]),
    ("events", &["events"]),
    ("rbac", &["rbac", "permissions", "routes"]),
];

impl Converter {
    /// The top-level entries with the catalogs' sections merged in; records
    /// which sections came from which file.
    pub(super) fn merge_catalogs(&mut self, entries: &Entries) -> Vec<(Located, Located)> {
        let mut merged = entries.to_vec();
        let Some((key, catalogs)) = entries
            .iter()
            .find(|(key, _)| key.value.key_text() == "catalogs")
        else {
            return merged;
        };
        let listed = self.mapping("/catalogs", catalogs).unwrap_or_default();
        let Some(dir) = self.dir.clone() else {
            if listed.iter().any(|(_, path)| !is_empty(&path.value)) {
                let message = "catalogs are not read without the plugin directory: their sections are missing here";
                self.warning("/catalogs", key, message.to_owned());
            }
            return merged;
        };
        for (name_key, path_node) in listed {
            let name = name_key.value.key_text();
            let source = join("/catalogs", &name);
            let Some(&(_, sections)) = CATALOGS.iter().find(|(catalog, _)| *catalog == name) else {
                self.unused(&source, name_key);
                continue;
            };
            if is_empty(&path_node.value) {
                continue;
            }
            let Some(path) = self.string(&source, path_node) else {
                continue;
            };
            if !is_relative_inside(path) {
                let message = format!(
                    "expected a relative path inside the plugin without \"..\", found {}",
                    path_node.value.found()
                );
                self.error(&source, path_node, message);
                continue;
            }
            let file = path.trim_start_matches("./").to_owned();
            let text = match fs::read_to_string(dir.join(path)) {
                Ok(text) => text,
                Err(error) => {
                    let message = format!("cannot read catalog {file}: {error}");
                    self.error(&source, path_node, message);
                    continue;
                }
            };
            let root = match crate::yaml::parse(&text) {
                Ok(root) => root,
                Err(syntax) => {
                    let message = format!(
                        "{} (in {file} at line {}, column {})",
                        syntax.message, syntax.line, syntax.column
                    );
                    self.error(&source, path_node, message);
                    continue;
                }
            };
            let Node::Map(file_entries) = &root.value else {
                let message = format!(
                    "expected {file} to hold a mapping, found {}",
                    root.value.found()
                );
                self.error(&source, path_node, message);
                continue;
            };
            let origin = Origin {
                file: file.clone(),
                at: pos(path_node),
            };
            for &section in sections {
                let Some((found_key, found)) = lookup(file_entries, section).or_else(|| {
                    // an rbac catalog may be the rbac value itself
                    (section == "rbac" && lookup(file_entries, "resources").is_some())
                        .then(|| (name_key.clone(), root.clone()))
                }) else {
                    continue;
                };
                if let Some(at) = merged
                    .iter()
                    .position(|(key, _)| key.value.key_text() == section)
                {
                    let (main_key, main) = &merged[at];
                    if !is_empty(&main.value) {
                        let message = format!(
                            "\"{section}\" is set both in plugin.yaml and in {file} (catalogs.{name}): keep it in one of them (PowerX does not merge the two)"
                        );
                        let main_key = main_key.clone();
                        self.error(&join("", section), &main_key, message);
                        continue;
                    }
                    merged.remove(at);
                }
                merged.push((found_key, found));
                self.origins.insert(section.to_owned(), origin.clone());
            }
        }
        merged
    }
}

/// `file[name]`, else `file.manifest[name]`.
fn lookup(entries: &Entries, name: &str) -> Option<(Located, Located)> {
    let direct = |entries: &Entries| {
        entries
            .iter()
            .find(|(key, _)| key.value.key_text() == name)
            .cloned()
    };
    direct(entries).or_else(|| {
        let (_, wrapper) = entries
            .iter()
            .find(|(key, _)| key.value.key_text() == "manifest")?;
        match &wrapper.value {
            Node::Map(inner) => direct(inner),
            _ => None,
        }
    })
}

/// Null, `""`, `[]` or `{}`: what PowerX treats as not set.
fn is_empty(node: &Node) -> bool {
    match node {
        Node::Null => true,
        Node::Str(text) => text.trim().is_empty(),
        Node::Seq(items) => items.is_empty(),
        Node::Map(entries) => entries.is_empty(),
        _ => false,
    }
}
