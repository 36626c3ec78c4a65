//! `frontend.admin.i18n` and the i18n files it names: menu titles per locale.
//!
//! Layout (i18next): `<dir>/<locale>/<namespace>.json` (or `.yaml`, `.yml`),
//! nested objects walked by the key split on `.`; also `<dir>/<locale>.json`
//! holding every namespace. `dir` is relative to the plugin directory; without
//! it, `<static_dir>/i18n` is tried.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::Converter;
use crate::fault::join;
use crate::rules::is_relative_inside;
use crate::yaml::node::{Located, Node};

const I18N: &str = "/frontend/admin/i18n";

/// The i18n files of the admin UI.
pub(super) struct Bundles {
    /// Locales in preference order; the first is the default.
    locales: Vec<String>,
    default_namespace: String,
    /// `(locale, namespace, content)`; no namespace for `<dir>/<locale>.json`.
    files: Vec<(String, Option<String>, Value)>,
}

impl Bundles {
    /// The text of `key` in every locale that has it.
    pub fn titles(&self, namespace: Option<&str>, key: &str) -> BTreeMap<String, String> {
        let namespace = namespace.unwrap_or(&self.default_namespace);
        let mut titles = BTreeMap::new();
        for locale in &self.locales {
            let files = self.files.iter().filter(|(of, _, _)| of == locale);
            let in_namespace = files
                .clone()
                .filter(|(_, ns, _)| ns.as_deref() == Some(namespace))
                .find_map(|(_, _, content)| walk(content, key));
            let anywhere = || {
                files
                    .clone()
                    .filter(|(_, ns, _)| ns.is_none())
                    .find_map(|(_, _, content)| {
                        walk(content, key).or_else(|| walk(content, &format!("{namespace}.{key}")))
                    })
            };
            if let Some(text) = in_namespace.or_else(anywhere) {
                titles.insert(locale.clone(), text.to_owned());
            }
        }
        titles
    }

    /// The default locale's text among `titles`.
    pub fn default_text<'a>(&self, titles: &'a BTreeMap<String, String>) -> Option<&'a String> {
        self.locales.iter().find_map(|locale| titles.get(locale))
    }
}

/// `key` as one flat key, else split on `.` through nested objects.
fn walk<'a>(content: &'a Value, key: &str) -> Option<&'a str> {
    if let Some(text) = content.get(key).and_then(Value::as_str) {
        return Some(text);
    }
    key.split('.')
        .try_fold(content, |value, part| value.get(part))?
        .as_str()
}

/// What `frontend.admin.i18n` says.
#[derive(Default)]
struct Section<'a> {
    dir: Option<(&'a str, &'a Located)>,
    default_namespace: Option<&'a str>,
    namespaces: Vec<String>,
    locales: Vec<String>,
}

impl Converter {
    /// Reads `frontend.admin.i18n` and, with a plugin directory, the i18n files.
    pub(super) fn i18n(
        &mut self,
        section: Option<&(Located, Located)>,
        static_dir: Option<&str>,
    ) -> Option<Bundles> {
        let mut read = Section::default();
        if let Some((_, value)) = section {
            read = self.i18n_section(value);
        }
        let base = self.dir.clone()?;
        let dir = match (read.dir, static_dir) {
            (Some((dir, node)), _) => {
                let source = join(I18N, "dir");
                if !is_relative_inside(dir) {
                    let message = format!(
                        "expected a relative path inside the plugin without \"..\", found {}: menu titles are not translated",
                        node.value.found()
                    );
                    self.warning(&source, node, message);
                    return None;
                }
                if !base.join(dir).is_dir() {
                    let message = format!(
                        "i18n directory {} does not exist: menu titles are not translated",
                        node.value.found()
                    );
                    self.warning(&source, node, message);
                    return None;
                }
                dir.to_owned()
            }
            (None, Some(static_dir)) if is_relative_inside(static_dir) => {
                let fallback = Path::new(static_dir).join("i18n");
                if !base.join(&fallback).is_dir() {
                    return None;
                }
                fallback.to_string_lossy().into_owned()
            }
            (None, _) => return None,
        };
        let root = base.join(&dir);
        let locales = if read.locales.is_empty() {
            scan(&root, true)
        } else {
            read.locales
        };
        let mut files = Vec::new();
        let mut unreadable = Vec::new();
        for locale in &locales {
            let namespaces = if read.namespaces.is_empty() {
                scan(&root.join(locale), false)
            } else {
                read.namespaces.clone()
            };
            for namespace in namespaces {
                if let Some(found) = read_bundle(&root.join(locale), &namespace, &mut unreadable) {
                    files.push((locale.clone(), Some(namespace), found));
                }
            }
            if let Some(found) = read_bundle(&root, locale, &mut unreadable) {
                files.push((locale.clone(), None, found));
            }
        }
        if let Some((key, _)) = section {
            for (path, error) in unreadable {
                let shown = path
                    .strip_prefix(&base)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                let message = format!("cannot read i18n file {shown}: {error}");
                self.warning(I18N, key, message);
            }
        }
        Some(Bundles {
            locales,
            default_namespace: read.default_namespace.unwrap_or("menus").to_owned(),
            files,
        })
    }

    fn i18n_section<'a>(&mut self, value: &'a Located) -> Section<'a> {
        let mut read = Section::default();
        for (key, value) in self.mapping(I18N, value).unwrap_or_default() {
            let name = key.value.key_text();
            let source = join(I18N, &name);
            match name.as_str() {
                "dir" => read.dir = self.string(&source, value).map(|dir| (dir, value)),
                "default_namespace" => read.default_namespace = self.string(&source, value),
                "namespaces" | "locales" => {
                    let items = self.sequence(&source, value).unwrap_or_default();
                    let mut texts = Vec::new();
                    for (index, item) in items.iter().enumerate() {
                        if let Some(text) = self.string(&format!("{source}/{index}"), item) {
                            texts.push(text.to_owned());
                        }
                    }
                    if name == "locales" {
                        read.locales = texts;
                    } else {
                        read.namespaces = texts;
                    }
                }
                "format" => match &value.value {
                    Node::Str(format) if matches!(format.as_str(), "i18next" | "json" | "nuxt") => {
                    }
                    other => {
                        let message = format!(
                            "expected an i18n format i18next, json or nuxt, found {}: the files are read as i18next",
                            other.found()
                        );
                        self.warning(&source, value, message);
                    }
                },
                _ => self.unused(&source, key),
            }
        }
        read
    }
}

/// Names in `dir`, sorted: subdirectories and file stems (`locales`), or only
/// file stems of `.json`/`.yaml`/`.yml` files (namespaces).
fn scan(dir: &Path, with_dirs: bool) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                return with_dirs.then(|| entry.file_name().to_string_lossy().into_owned());
            }
            let ext = path.extension()?.to_str()?;
            matches!(ext, "json" | "yaml" | "yml")
                .then(|| path.file_stem())
                .flatten()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// `<dir>/<name>.json`, else `.yaml`, else `.yml`; a file that does not parse
/// is added to `unreadable`.
fn read_bundle(
    dir: &Path,
    name: &str,
    unreadable: &mut Vec<(std::path::PathBuf, String)>,
) -> Option<Value> {
    for ext in ["json", "yaml", "yml"] {
        let path = dir.join(format!("{name}.{ext}"));
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let parsed = if ext == "json" {
            serde_json::from_str::<Value>(&text).map_err(|error| error.to_string())
        } else {
            serde_saphyr::from_str::<Value>(&text).map_err(|error| error.to_string())
        };
        match parsed {
            Ok(value) => return Some(value),
            Err(error) => {
                unreadable.push((path, error));
                return None;
            }
        }
    }
    None
}
