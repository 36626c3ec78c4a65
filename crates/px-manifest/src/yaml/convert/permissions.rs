//! `permissions[]` and `rbac.resources[]` → `permissions`.

use serde_json::{Map, Value, json};

use super::Converter;
use crate::fault::join;
use crate::yaml::node::{Located, Node};

impl Converter {
    /// The permissions, `permissions[]` first, and every declared key.
    pub(super) fn permissions(
        &mut self,
        listed: Option<&(Located, Located)>,
        rbac: Option<&(Located, Located)>,
    ) -> (Vec<Value>, Vec<String>) {
        let mut out = Vec::new();
        if let Some((key, value)) = listed {
            self.record("/permissions", "/permissions", Some(key), value);
            for (index, item) in self
                .sequence("/permissions", value)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let pointer = format!("/permissions/{}", out.len());
                let source = format!("/permissions/{index}");
                match &item.value {
                    Node::Str(text) => {
                        self.record(&pointer, &source, None, item);
                        self.record(&format!("{pointer}/key"), &source, None, item);
                        out.push(json!({ "key": text }));
                    }
                    Node::Map(entries) => {
                        self.record(&pointer, &source, None, item);
                        let mut permission = Map::new();
                        self.fields(
                            &mut permission,
                            &pointer,
                            &source,
                            entries,
                            &["key", "description"],
                        );
                        out.push(Value::Object(permission));
                    }
                    other => {
                        let message = format!(
                            "expected a \"resource:action\" string or a mapping with \"key\", found {}",
                            other.found()
                        );
                        self.error(&source, item, message);
                    }
                }
            }
        }
        if let Some((_, value)) = rbac {
            for (key, value) in self.mapping("/rbac", value).unwrap_or_default() {
                let name = key.value.key_text();
                if name == "resources" {
                    for (index, resource) in self
                        .sequence("/rbac/resources", value)
                        .unwrap_or_default()
                        .iter()
                        .enumerate()
                    {
                        self.resource(&format!("/rbac/resources/{index}"), resource, &mut out);
                    }
                } else {
                    self.unused(&join("/rbac", &name), key);
                }
            }
        }
        let declared = out
            .iter()
            .filter_map(|p| p.get("key").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        (out, declared)
    }

    /// One `rbac.resources[]` entry: a permission `resource:action` per action.
    fn resource(&mut self, source: &str, node: &Located, out: &mut Vec<Value>) {
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
                    description = self.string(&field, value).map(|text| (field, value, text))
                }
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
            let pointer = format!("/permissions/{}", out.len());
            self.record(&pointer, &action_source, None, action);
            self.record(&format!("{pointer}/key"), &action_source, None, action);
            let mut permission = json!({ "key": format!("{resource}:{action_name}") });
            if let Some((description_source, at, text)) = &description {
                self.record(
                    &format!("{pointer}/description"),
                    description_source,
                    None,
                    at,
                );
                permission["description"] = Value::from(*text);
            }
            out.push(permission);
        }
    }
}
