//! `frontend.admin` → `admin`.

use serde_json::{Map, Value};

use super::Converter;
use crate::fault::join;
use crate::yaml::node::{Located, Node};

const ADMIN: &str = "/frontend/admin";

impl Converter {
    pub(super) fn frontend(
        &mut self,
        value: &Located,
        declared: &[String],
    ) -> Option<Map<String, Value>> {
        let mut admin = None;
        for (key, value) in self.mapping("/frontend", value).unwrap_or_default() {
            let name = key.value.key_text();
            if name == "admin" {
                admin = self.admin(key, value, declared);
            } else {
                self.unused(&join("/frontend", &name), key);
            }
        }
        admin
    }

    fn admin(
        &mut self,
        key: &Located,
        value: &Located,
        declared: &[String],
    ) -> Option<Map<String, Value>> {
        self.record("/admin", ADMIN, Some(key), value);
        let entries = self.mapping(ADMIN, value)?;
        let mut out = Map::new();
        for (key, value) in entries {
            let name = key.value.key_text();
            let source = join(ADMIN, &name);
            match name.as_str() {
                "static_dir" => {
                    let copied = self.copy("/admin/static_dir", &source, Some(key), value);
                    out.insert(name, copied);
                }
                "menus" => {
                    self.record("/admin/menus", &source, Some(key), value);
                    let items = self.sequence(&source, value).unwrap_or_default();
                    let menus = items
                        .iter()
                        .enumerate()
                        .filter_map(|(index, item)| self.menu(index, item, declared));
                    let menus: Vec<Value> = menus.map(Value::Object).collect();
                    out.insert(name, Value::Array(menus));
                }
                "kind" => match self.string(&source, value) {
                    // the process section, when present, decides
                    Some("process" | "static") | None => {}
                    Some(_) => self.unused(&source, key),
                },
                "process" => {
                    let process = self.admin_process(key, value);
                    out.insert(name, Value::Object(process));
                }
                _ => self.unused(&source, key),
            }
        }
        Some(out)
    }

    /// `frontend.admin.process{entry,args,env,health}` → `admin.process`.
    fn admin_process(&mut self, key: &Located, value: &Located) -> Map<String, Value> {
        let source = join(ADMIN, "process");
        self.record("/admin/process", &source, Some(key), value);
        let mut out = Map::new();
        for (key, value) in self.mapping(&source, value).unwrap_or_default() {
            let name = key.value.key_text();
            let from = join(&source, &name);
            match name.as_str() {
                "entry" | "args" | "env" => {
                    let copied = self.copy(&join("/admin/process", &name), &from, Some(key), value);
                    out.insert(name, copied);
                }
                "health" => {
                    let health = self.health("/admin/process/health", &from, key, value);
                    out.insert(name, Value::Object(health));
                }
                _ => self.unused(&from, key),
            }
        }
        out
    }

    fn menu(
        &mut self,
        index: usize,
        node: &Located,
        declared: &[String],
    ) -> Option<Map<String, Value>> {
        let pointer = format!("/admin/menus/{index}");
        let source = format!("{ADMIN}/menus/{index}");
        self.record(&pointer, &source, None, node);
        let entries = self.mapping(&source, node)?;
        let has = |name: &str| entries.iter().any(|(key, _)| key.value.key_text() == name);
        let (has_path, has_permission) = (has("path"), has("permission"));
        let mut out = Map::new();
        for (key, value) in entries {
            let name = key.value.key_text();
            let field = join(&source, &name);
            match name.as_str() {
                "id" | "title" | "path" | "icon" | "order" | "permission" => {
                    let copied = self.copy(&join(&pointer, &name), &field, Some(key), value);
                    out.insert(name, copied);
                }
                "route" if !has_path => {
                    let copied = self.copy(&format!("{pointer}/path"), &field, Some(key), value);
                    out.insert("path".to_owned(), copied);
                }
                "required_policies" if !has_permission => {
                    if let Some(permission) = self.policies(&pointer, &field, value, declared) {
                        out.insert("permission".to_owned(), permission);
                    }
                }
                _ => self.unused(&field, key),
            }
        }
        Some(out)
    }

    /// The first declared policy becomes the menu's permission; the others are ignored.
    fn policies(
        &mut self,
        pointer: &str,
        source: &str,
        node: &Located,
        declared: &[String],
    ) -> Option<Value> {
        let mut chosen = None;
        for (index, item) in self
            .sequence(source, node)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let item_source = format!("{source}/{index}");
            let Node::Str(policy) = &item.value else {
                self.error(
                    &item_source,
                    item,
                    format!("expected a string, found {}", item.value.found()),
                );
                continue;
            };
            let quoted = Value::from(policy.as_str());
            if !declared.contains(policy) {
                let message = format!(
                    "policy {quoted} is not declared in permissions or rbac and is ignored"
                );
                self.warning(&item_source, item, message);
            } else if chosen.is_some() {
                let message = format!("a menu takes one permission: policy {quoted} is ignored");
                self.warning(&item_source, item, message);
            } else {
                self.record(&format!("{pointer}/permission"), &item_source, None, item);
                chosen = Some(quoted);
            }
        }
        chosen
    }
}
