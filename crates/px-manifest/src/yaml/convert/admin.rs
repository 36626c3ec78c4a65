//! `frontend.admin` → `admin`.

use serde_json::{Map, Value, json};

use super::Converter;
use super::i18n::Bundles;
use crate::fault::join;
use crate::yaml::node::{Located, Node};

const ADMIN: &str = "/frontend/admin";

/// What a menu needs to know about the rest of the file.
struct MenuContext<'a> {
    /// Every declared permission key.
    declared: &'a [String],
    bundles: Option<Bundles>,
}

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
        let find = |name: &str| entries.iter().find(|(key, _)| key.value.key_text() == name);
        let static_dir = find("static_dir").and_then(|(_, value)| match &value.value {
            Node::Str(dir) => Some(dir.as_str()),
            _ => None,
        });
        let context = MenuContext {
            declared,
            bundles: self.i18n(find("i18n"), static_dir),
        };
        let kind = find("kind").and_then(|(_, value)| match &value.value {
            Node::Str(kind) => Some(kind.as_str()),
            _ => None,
        });
        let has_process = find("process").is_some();
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
                    let menus = self.menus("/admin/menus", &source, value, &context);
                    out.insert(name, Value::Array(menus));
                }
                "kind" => match self.string(&source, value) {
                    // the process section, when present, decides
                    Some("process" | "static" | "proxy" | "nuxt") | None => {}
                    Some(other) => {
                        let message = format!(
                            "admin kind {} is not known (process, static, proxy, nuxt): only static_dir and process are used",
                            Value::from(other)
                        );
                        self.warning(&source, value, message);
                    }
                },
                "process" => {
                    let process = self.admin_process(key, value);
                    out.insert(name, Value::Object(process));
                }
                // a Nuxt server: `node <entry>`
                "entry" if kind == Some("nuxt") && !has_process => {
                    if let Some(entry) = self.string(&source, value) {
                        self.record("/admin/process", &source, Some(key), value);
                        self.record("/admin/process/entry", &source, Some(key), value);
                        self.record("/admin/process/args/0", &source, Some(key), value);
                        let process = json!({
                            "entry": "node",
                            "args": [entry],
                            "health": { "path": "/", "timeout_ms": super::runtime::STARTUP_MS },
                        });
                        out.insert("process".to_owned(), process);
                    }
                }
                // read, not acted on
                "i18n" | "routes" | "proxy_base_path" => {}
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
                "entry" | "args" => {
                    let copied = self.copy(&join("/admin/process", &name), &from, Some(key), value);
                    out.insert(name, copied);
                }
                "env" => {
                    let env = self.env("/admin/process/env", &from, key, value);
                    out.insert(name, env);
                }
                "health" => {
                    let health = self.health("/admin/process/health", &from, key, value);
                    out.insert(name, Value::Object(health));
                }
                _ => self.unused(&from, key),
            }
        }
        let health = out.entry("health").or_insert_with(|| json!({}));
        if let Value::Object(health) = health {
            health.entry("path").or_insert_with(|| Value::from("/"));
            health
                .entry("timeout_ms")
                .or_insert_with(|| Value::from(super::runtime::STARTUP_MS));
        }
        out
    }

    fn menus(
        &mut self,
        pointer: &str,
        source: &str,
        node: &Located,
        context: &MenuContext<'_>,
    ) -> Vec<Value> {
        let items = self.sequence(source, node).unwrap_or_default();
        items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                let pointer = format!("{pointer}/{index}");
                let source = format!("{source}/{index}");
                self.menu(&pointer, &source, item, context)
            })
            .map(Value::Object)
            .collect()
    }

    fn menu(
        &mut self,
        pointer: &str,
        source: &str,
        node: &Located,
        context: &MenuContext<'_>,
    ) -> Option<Map<String, Value>> {
        self.record(pointer, source, None, node);
        let entries = self.mapping(source, node)?;
        let find = |name: &str| entries.iter().find(|(key, _)| key.value.key_text() == name);
        let path = find("path").and_then(|(_, value)| match &value.value {
            Node::Str(path) => Some(path.as_str()),
            _ => None,
        });
        let has_permission = find("permission").is_some();
        let mut out = Map::new();
        for (key, value) in entries {
            let name = key.value.key_text();
            let field = join(source, &name);
            match name.as_str() {
                "id" | "title" | "path" | "icon" | "order" | "permission" => {
                    let copied = self.copy(&join(pointer, &name), &field, Some(key), value);
                    out.insert(name, copied);
                }
                "route" => self.route(pointer, &field, key, value, path, &mut out),
                "required_policies" if !has_permission => {
                    let keys = self.policies(pointer, &field, value, context.declared);
                    if !keys.is_empty() {
                        out.insert("permission".to_owned(), Value::Array(keys));
                    }
                }
                "title_i18n" => self.title_i18n(pointer, &field, key, value, context, &mut out),
                "children" => {
                    let children_pointer = join(pointer, "children");
                    self.record(&children_pointer, &field, Some(key), value);
                    let children = self.menus(&children_pointer, &field, value, context);
                    out.insert(name, Value::Array(children));
                }
                // read, not acted on
                "slot" | "visible" => {}
                _ => self.unused(&field, key),
            }
        }
        Some(out)
    }

    /// `route` is the path without its leading `/`: it is the path when there
    /// is none, and said nothing more when it names the same one.
    fn route(
        &mut self,
        pointer: &str,
        source: &str,
        key: &Located,
        value: &Located,
        path: Option<&str>,
        out: &mut Map<String, Value>,
    ) {
        let Node::Str(route) = &value.value else {
            if path.is_none() {
                // the schema says what a path should be
                let copied = self.copy(&join(pointer, "path"), source, Some(key), value);
                out.insert("path".to_owned(), copied);
            }
            return;
        };
        let as_path = format!("/{}", route.trim_start_matches('/'));
        match path {
            None => {
                self.record(&join(pointer, "path"), source, Some(key), value);
                out.insert("path".to_owned(), Value::from(as_path));
            }
            Some(path) if path.trim_start_matches('/') == route.trim_start_matches('/') => {}
            Some(path) => {
                let message = format!(
                    "route {} and path {} name different pages: the path is used",
                    Value::from(route.as_str()),
                    Value::from(path)
                );
                self.warning(source, value, message);
            }
        }
    }

    /// Every declared policy is needed to see the menu; undeclared ones are
    /// dropped with a warning.
    fn policies(
        &mut self,
        pointer: &str,
        source: &str,
        node: &Located,
        declared: &[String],
    ) -> Vec<Value> {
        let mut keys = Vec::new();
        let items = self.sequence(source, node).unwrap_or_default();
        for (index, item) in items.iter().enumerate() {
            let item_source = format!("{source}/{index}");
            let Some(policy) = self.string(&item_source, item) else {
                continue;
            };
            let quoted = Value::from(policy);
            if declared.iter().any(|key| key == policy) {
                let at = format!("{pointer}/permission/{}", keys.len());
                self.record(&at, &item_source, None, item);
                if !keys.contains(&quoted) {
                    keys.push(quoted);
                }
            } else {
                let message = format!(
                    "policy {quoted} is not declared, so it does not gate this menu: declare it under rbac.resources or permissions"
                );
                self.warning(&item_source, item, message);
            }
        }
        if !keys.is_empty() {
            self.record(&join(pointer, "permission"), source, None, node);
        }
        keys
    }

    /// `title_i18n{namespace,key,default}`: the titles of the i18n files, and
    /// the title when there is none.
    fn title_i18n(
        &mut self,
        pointer: &str,
        source: &str,
        key: &Located,
        value: &Located,
        context: &MenuContext<'_>,
        out: &mut Map<String, Value>,
    ) {
        let (mut namespace, mut text_key, mut default) = (None, None, None);
        for (field_key, field) in self.mapping(source, value).unwrap_or_default() {
            let name = field_key.value.key_text();
            let field_source = join(source, &name);
            match name.as_str() {
                "namespace" => namespace = self.string(&field_source, field),
                "key" => text_key = self.string(&field_source, field).map(|text| (text, field)),
                "default" => default = self.string(&field_source, field).map(|text| (text, field)),
                _ => self.unused(&field_source, field_key),
            }
        }
        let titles = match (&context.bundles, text_key) {
            (Some(bundles), Some((text_key, _))) => bundles.titles(namespace, text_key),
            _ => Default::default(),
        };
        // a `title` of the menu, before or after this, wins
        if !out.contains_key("title") {
            let from_files = context
                .bundles
                .as_ref()
                .and_then(|bundles| bundles.default_text(&titles));
            let title = match (default, from_files, text_key) {
                (Some((text, at)), _, _) => Some((text.to_owned(), at)),
                (None, Some(text), _) => Some((text.clone(), value)),
                (None, None, Some((text, at))) => Some((text.to_owned(), at)),
                (None, None, None) => None,
            };
            if let Some((title, at)) = title {
                self.record(&join(pointer, "title"), source, Some(key), at);
                out.insert("title".to_owned(), Value::from(title));
            }
        }
        if !titles.is_empty() {
            self.record(&join(pointer, "title_i18n"), source, Some(key), value);
            out.insert(
                "title_i18n".to_owned(),
                Value::Object(
                    titles
                        .into_iter()
                        .map(|(l, t)| (l, Value::from(t)))
                        .collect(),
                ),
            );
        }
    }
}
