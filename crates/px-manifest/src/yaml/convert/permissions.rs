//! `permissions[]` and `rbac.resources[]` → `permissions`.
//!
//! An item of `permissions[]` is a `"resource:action"` string, `{key,
//! description}`, or PowerX's `{resource, actions[], description}`; an item of
//! `rbac.resources[]` is `{resource, actions[], description}`. Each action
//! gives the key `<resource>:<action>` (`base:template` + `read` →
//! `base:template:read`). A key in both lists is one permission (PowerX
//! dedupes them); a key twice in one list is a warning.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::Converter;
use crate::fault::join;
use crate::yaml::node::{Located, Node};

/// Fields of PowerX's permission entry that are read and not acted on.
const NOT_ACTED_ON: &[&str] = &[
    "path",
    "method",
    "label",
    "module",
    "type",
    "permission_code",
    "business_permission_code",
    "title_i18n",
    "description_i18n",
    "risk_level",
    "data_scope",
    "default_role_grants",
    "protocol_bindings",
    "independent",
    "allow_api_key",
    "api_key",
];

/// The permissions found so far.
#[derive(Default)]
struct Collected {
    out: Vec<Value>,
    /// key → its index in `out`.
    seen: HashMap<String, usize>,
    /// (list, key) → the source pointer and line of its first occurrence in that list.
    listed: HashMap<(&'static str, String), (String, usize)>,
}

/// One permission about to be added.
struct Found<'a> {
    key: String,
    /// The node naming the key, and its source pointer.
    at: &'a Located,
    source: String,
    description: Option<(&'a Located, String, &'a str)>,
}

impl Converter {
    /// The permissions, `permissions[]` first, and every declared key.
    pub(super) fn permissions(
        &mut self,
        listed: Option<&(Located, Located)>,
        rbac: Option<&(Located, Located)>,
    ) -> (Vec<Value>, Vec<String>) {
        let mut collected = Collected::default();
        if let Some((key, value)) = listed {
            self.within("permissions", |this| {
                this.listed(key, value, &mut collected)
            });
        }
        if let Some((_, value)) = rbac {
            self.within("rbac", |this| this.rbac(value, &mut collected));
        }
        let declared = collected.seen.into_keys().collect();
        (collected.out, declared)
    }

    fn listed(&mut self, key: &Located, value: &Located, collected: &mut Collected) {
        self.record("/permissions", "/permissions", Some(key), value);
        let items = self.sequence("/permissions", value).unwrap_or_default();
        for (index, item) in items.iter().enumerate() {
            let source = format!("/permissions/{index}");
            match &item.value {
                Node::Str(text) => {
                    let found = Found {
                        key: text.clone(),
                        at: item,
                        source,
                        description: None,
                    };
                    self.add("permissions", found, collected);
                }
                Node::Map(entries) => {
                    let has =
                        |name: &str| entries.iter().any(|(key, _)| key.value.key_text() == name);
                    if has("resource") || !has("key") {
                        self.resource("permissions", &source, item, collected);
                    } else {
                        self.keyed(&source, entries, collected);
                    }
                }
                other => {
                    let message = format!(
                        "expected a \"resource:action\" string or a mapping with \"resource\" and \"actions\", found {}",
                        other.found()
                    );
                    self.error(&source, item, message);
                }
            }
        }
    }

    /// `{key, description}`.
    fn keyed(&mut self, source: &str, entries: &[(Located, Located)], collected: &mut Collected) {
        let (mut key, mut description) = (None, None);
        for (name_key, value) in entries {
            let name = name_key.value.key_text();
            let field = join(source, &name);
            match name.as_str() {
                "key" => key = self.string(&field, value).map(|text| (text, value)),
                "description" => {
                    description = self.string(&field, value).map(|text| (value, field, text));
                }
                known if NOT_ACTED_ON.contains(&known) => {}
                _ => self.unused(&field, name_key),
            }
        }
        if let Some((text, at)) = key {
            let found = Found {
                key: text.to_owned(),
                at,
                source: join(source, "key"),
                description,
            };
            self.add("permissions", found, collected);
        }
    }

    fn rbac(&mut self, value: &Located, collected: &mut Collected) {
        for (key, value) in self.mapping("/rbac", value).unwrap_or_default() {
            let name = key.value.key_text();
            if name == "resources" {
                let items = self.sequence("/rbac/resources", value).unwrap_or_default();
                for (index, resource) in items.iter().enumerate() {
                    let source = format!("/rbac/resources/{index}");
                    self.resource("rbac", &source, resource, collected);
                }
            } else {
                self.unused(&join("/rbac", &name), key);
            }
        }
    }

    /// `{resource, actions[], description}`: a permission `resource:action` per action.
    fn resource(
        &mut self,
        list: &'static str,
        source: &str,
        node: &Located,
        collected: &mut Collected,
    ) {
        let Some(entries) = self.mapping(source, node) else {
            return;
        };
        let (mut resource, mut actions, mut description) = (None, None, None);
        for (key, value) in entries {
            let name = key.value.key_text();
            let field = join(source, &name);
            match name.as_str() {
                "resource" => resource = self.string(&field, value),
                "actions" => actions = self.sequence(&field, value).map(|items| (field, items)),
                "description" => {
                    description = self.string(&field, value).map(|text| (value, field, text));
                }
                known if NOT_ACTED_ON.contains(&known) => {}
                _ => self.unused(&field, key),
            }
        }
        for (field, present) in [
            ("resource", resource.is_some()),
            ("actions", actions.is_some()),
        ] {
            if !present && !entries.iter().any(|(key, _)| key.value.key_text() == field) {
                let message = format!("missing required field \"{field}\"");
                self.error(&join(source, field), node, message);
            }
        }
        let (Some(resource), Some((actions_source, actions))) = (resource, actions) else {
            return;
        };
        for (index, action) in actions.iter().enumerate() {
            let action_source = format!("{actions_source}/{index}");
            let Some(action_name) = self.string(&action_source, action) else {
                continue;
            };
            let found = Found {
                key: format!("{resource}:{action_name}"),
                at: action,
                source: action_source,
                description: description.clone(),
            };
            self.add(list, found, collected);
        }
    }

    /// Adds a permission; a key already found is merged into the first one
    /// (a warning when both are in the same list).
    fn add(&mut self, list: &'static str, found: Found<'_>, collected: &mut Collected) {
        let in_list = (list, found.key.clone());
        if let Some((first_source, line)) = collected.listed.get(&in_list) {
            let message = format!(
                "duplicate permission {} is ignored (first at {first_source}, line {line})",
                Value::from(found.key.as_str())
            );
            self.warning(&found.source, found.at, message);
            return;
        }
        let line = self.place(found.at).0.line;
        collected
            .listed
            .insert(in_list, (found.source.clone(), line));
        if let Some(&at) = collected.seen.get(&found.key) {
            if let Some((node, source, text)) = found.description {
                let permission = &mut collected.out[at];
                if permission.get("description").is_none() {
                    self.record(
                        &format!("/permissions/{at}/description"),
                        &source,
                        None,
                        node,
                    );
                    permission["description"] = Value::from(text);
                }
            }
            return;
        }
        let at = collected.out.len();
        let pointer = format!("/permissions/{at}");
        self.record(&pointer, &found.source, None, found.at);
        self.record(&format!("{pointer}/key"), &found.source, None, found.at);
        let mut permission = Map::new();
        permission.insert("key".to_owned(), Value::from(found.key.as_str()));
        if let Some((node, source, text)) = found.description {
            self.record(&format!("{pointer}/description"), &source, None, node);
            permission.insert("description".to_owned(), Value::from(text));
        }
        collected.out.push(Value::Object(permission));
        collected.seen.insert(found.key, at);
    }
}
