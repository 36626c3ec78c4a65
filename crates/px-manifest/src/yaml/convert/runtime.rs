//! `runtime`, `endpoints` and legacy `backend` → `runtime`.

use serde_json::{Map, Value, json};

use super::Converter;
use crate::fault::join;
use crate::yaml::node::{Located, Node};

/// How long a plugin.yaml plugin may take to become healthy: PowerX's Core
/// gives a plugin 30 s to start (`timeout` is one probe).
pub(super) const STARTUP_MS: u64 = 30_000;

impl Converter {
    pub(super) fn runtime(
        &mut self,
        runtime: Option<&(Located, Located)>,
        endpoints: Option<&(Located, Located)>,
        backend: Option<&(Located, Located)>,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        if let Some((key, value)) = runtime {
            self.record("/runtime", "/runtime", Some(key), value);
            for (key, value) in self.mapping("/runtime", value).unwrap_or_default() {
                let name = key.value.key_text();
                let source = join("/runtime", &name);
                match name.as_str() {
                    "kind" => {
                        if let Some(kind) = self.kind(&source, value) {
                            self.record("/runtime/kind", &source, Some(key), value);
                            out.insert(name, Value::from(kind));
                        }
                    }
                    "entry" | "args" | "http_base_path" => {
                        let copied = self.copy(&join("/runtime", &name), &source, Some(key), value);
                        out.insert(name, copied);
                    }
                    "env" => {
                        let env = self.env("/runtime/env", &source, key, value);
                        out.insert(name, env);
                    }
                    "health" => {
                        let health = self.health("/runtime/health", "/runtime/health", key, value);
                        out.insert(name, Value::Object(health));
                    }
                    _ => self.unused(&source, key),
                }
            }
        }
        if let Some((_, value)) = endpoints {
            for (key, value) in self.mapping("/endpoints", value).unwrap_or_default() {
                let name = key.value.key_text();
                let source = join("/endpoints", &name);
                match name.as_str() {
                    "http_base_path" => {
                        let copied =
                            self.copy("/runtime/http_base_path", &source, Some(key), value);
                        out.insert(name, copied);
                    }
                    // read, not acted on
                    "grpc" => {}
                    _ => self.unused(&source, key),
                }
            }
        }
        if let Some((_, value)) = backend {
            self.backend(value, &mut out);
        }

        if !out.contains_key("kind") {
            let kind = if out.contains_key("entry") {
                "process"
            } else {
                "static"
            };
            out.insert("kind".to_owned(), Value::from(kind));
        }
        if out.get("kind").and_then(Value::as_str) == Some("process") {
            let health = out.entry("health").or_insert_with(|| json!({}));
            if let Value::Object(health) = health {
                health
                    .entry("timeout_ms")
                    .or_insert_with(|| Value::from(STARTUP_MS));
            }
        }
        out
    }

    /// Legacy `backend{entry,port,health}`: the entry and health path when
    /// `runtime` has none; `port` is Core's to choose.
    fn backend(&mut self, value: &Located, out: &mut Map<String, Value>) {
        let is_static = out.get("kind").and_then(Value::as_str) == Some("static");
        for (key, value) in self.mapping("/backend", value).unwrap_or_default() {
            let name = key.value.key_text();
            let source = join("/backend", &name);
            match name.as_str() {
                "entry" => {
                    if self.string(&source, value).is_some()
                        && !is_static
                        && !out.contains_key("entry")
                    {
                        let copied = self.copy("/runtime/entry", &source, Some(key), value);
                        out.insert(name, copied);
                    }
                }
                "health" => {
                    let has_path = out
                        .get("health")
                        .is_some_and(|health| health.get("path").is_some());
                    if self.string(&source, value).is_some() && !has_path {
                        if !out.contains_key("health") {
                            self.record("/runtime/health", &source, Some(key), value);
                        }
                        let copied = self.copy("/runtime/health/path", &source, Some(key), value);
                        let health = out.entry("health").or_insert_with(|| json!({}));
                        health["path"] = copied;
                    }
                }
                // Core chooses the port
                "port" => {}
                _ => self.unused(&source, key),
            }
        }
    }

    /// An environment: names to strings; YAML numbers and booleans are taken
    /// as their text (`POWERX_PROXY: 1`), null as empty. `${VAR}` stays as written.
    pub(super) fn env(
        &mut self,
        pointer: &str,
        source: &str,
        key: &Located,
        value: &Located,
    ) -> Value {
        self.record(pointer, source, Some(key), value);
        let Node::Map(entries) = &value.value else {
            // the schema says what was expected
            return value.value.to_json();
        };
        let mut out = Map::new();
        for (key, value) in entries {
            let name = key.value.key_text();
            let text = match &value.value {
                Node::Null => Value::from(""),
                Node::Bool(b) => Value::from(b.to_string()),
                Node::Int(i) => Value::from(i.to_string()),
                Node::UInt(u) => Value::from(u.to_string()),
                Node::Float(f) => Value::from(f.to_string()),
                other => other.to_json(),
            };
            self.record(
                &join(pointer, &name),
                &join(source, &name),
                Some(key),
                value,
            );
            out.insert(name, text);
        }
        Value::Object(out)
    }

    /// `process`, `binary`, `exec` → `process`; `static`, `none` → `static`.
    fn kind(&mut self, source: &str, value: &Located) -> Option<&'static str> {
        match self.string(source, value)? {
            "process" | "binary" | "exec" => Some("process"),
            "static" | "none" => Some("static"),
            other => {
                let message = format!(
                    "expected a runtime kind (process, binary, exec, static or none), found {}",
                    Value::from(other)
                );
                self.error(source, value, message);
                None
            }
        }
    }

    /// `migrations{entry,args,workdir,once,timeout}`; `timeout` is a duration.
    pub(super) fn migrations(
        &mut self,
        key: &Located,
        value: &Located,
    ) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        self.record("/migrations", "/migrations", Some(key), value);
        for (key, value) in self.mapping("/migrations", value)? {
            let name = key.value.key_text();
            let source = join("/migrations", &name);
            match name.as_str() {
                "entry" | "args" | "workdir" | "once" | "timeout_ms" => {
                    let copied = self.copy(&source, &source, Some(key), value);
                    out.insert(name, copied);
                }
                // PowerX's build hint (`go`): nothing to do here
                "driver" => {}
                "timeout" => match duration_ms(&value.value) {
                    Some(ms) => {
                        self.record("/migrations/timeout_ms", &source, Some(key), value);
                        out.insert("timeout_ms".to_owned(), ms);
                    }
                    None => {
                        let message = format!(
                            "expected a duration like \"5m\" or \"30s\", or milliseconds as an integer, found {}",
                            value.value.found()
                        );
                        self.error(&source, value, message);
                    }
                },
                _ => self.unused(&source, key),
            }
        }
        Some(out)
    }

    /// A health section at `source` in the YAML, mapped to `target`:
    /// `http` = path, `timeout` and `interval` are durations.
    pub(super) fn health(
        &mut self,
        target: &str,
        source: &str,
        key: &Located,
        value: &Located,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        self.record(target, source, Some(key), value);
        for (key, value) in self.mapping(source, value).unwrap_or_default() {
            let name = key.value.key_text();
            let from = join(source, &name);
            match name.as_str() {
                "http" | "path" => {
                    let copied = self.copy(&join(target, "path"), &from, Some(key), value);
                    out.insert("path".to_owned(), copied);
                }
                "timeout_ms" | "interval_ms" | "probe_timeout_ms" => {
                    let copied = self.copy(&join(target, &name), &from, Some(key), value);
                    out.insert(name, copied);
                }
                // `timeout` is one probe; the startup budget is `timeout_ms`
                "timeout" | "interval" => match duration_ms(&value.value) {
                    Some(ms) => {
                        let field = if name == "timeout" {
                            "probe_timeout_ms".to_owned()
                        } else {
                            "interval_ms".to_owned()
                        };
                        self.record(&join(target, &field), &from, Some(key), value);
                        out.insert(field, ms);
                    }
                    None => {
                        let message = format!(
                            "expected a duration like \"15s\" or \"500ms\", or milliseconds as an integer, found {}",
                            value.value.found()
                        );
                        self.error(&from, value, message);
                    }
                },
                _ => self.unused(&from, key),
            }
        }
        out
    }
}

/// `"500ms"`, `"15s"`, `"2m"`, `"1h"`, `"1500"` or an integer, in milliseconds.
/// A negative integer is kept so that the schema reports it.
fn duration_ms(node: &Node) -> Option<Value> {
    match node {
        Node::UInt(ms) => Some(Value::from(*ms)),
        Node::Int(ms) => Some(Value::from(*ms)),
        Node::Str(text) => {
            let text = text.trim();
            let digits = text
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(text.len());
            let (number, unit) = text.split_at(digits);
            let number: u64 = number.parse().ok()?;
            let scale = match unit.trim() {
                "" | "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => return None,
            };
            number.checked_mul(scale).map(Value::from)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ms = |text: &str| duration_ms(&Node::Str(text.to_owned())).and_then(|v| v.as_u64());
        assert_eq!(ms("15s"), Some(15_000));
        assert_eq!(ms("500ms"), Some(500));
        assert_eq!(ms("2m"), Some(120_000));
        assert_eq!(ms("1500"), Some(1_500));
        assert_eq!(ms("soon"), None);
        assert_eq!(ms("1.5s"), None);
        assert_eq!(duration_ms(&Node::UInt(250)), Some(Value::from(250)));
        assert_eq!(duration_ms(&Node::Float(1.5)), None);
    }
}
