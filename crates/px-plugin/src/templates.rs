//! The plugin templates `px-plugin new` writes, embedded in the binary from
//! `templates/<name>/` at the repository root.
//!
//! Files are real, readable files; `{{id}}`, `{{name}}` and `{{slug}}` in them
//! are replaced when a project is created. A test checks that the table below
//! lists exactly the files on disk, with their executable bits.

/// Which template to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TemplateKind {
    /// A Python HTTP server (standard library only, no build step) with an admin page
    Python,
    /// A Rust binary (standard library only) compiled by `cargo build --release`, with an admin page
    Rust,
    /// An admin page only, no process
    Static,
}

impl TemplateKind {
    /// The template's name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TemplateKind::Python => "python",
            TemplateKind::Rust => "rust",
            TemplateKind::Static => "static",
        }
    }

    /// The template's files.
    pub fn files(self) -> &'static [TemplateFile] {
        match self {
            TemplateKind::Python => PYTHON,
            TemplateKind::Rust => RUST,
            TemplateKind::Static => STATIC,
        }
    }
}

/// One file of a template.
#[derive(Debug)]
pub struct TemplateFile {
    /// Path relative to the project root, `/`-separated.
    pub path: &'static str,
    /// Contents, with placeholders.
    pub contents: &'static str,
    /// Whether the file gets mode 0755.
    pub executable: bool,
}

/// Values substituted into a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    /// Plugin id, e.g. `com.example.hello` (`{{id}}`).
    pub id: String,
    /// Display name, e.g. `Hello World` (`{{name}}`).
    pub name: String,
    /// Lowercase word for package, binary and permission names, e.g. `hello_world` (`{{slug}}`).
    pub slug: String,
}

impl Vars {
    /// Derives the values from a directory name, e.g. `hello-world` gives
    /// `com.example.hello-world`, `Hello World`, `hello_world`; `id` overrides the id.
    pub fn derive(dir_name: &str, id: Option<&str>, name: Option<&str>) -> Option<Vars> {
        let segment = id_segment(dir_name);
        let id = match id {
            Some(id) => id.to_owned(),
            None => format!("com.example.{}", segment.as_deref()?),
        };
        let last = id.rsplit('.').next().unwrap_or(&id);
        let mut slug: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        if !slug.starts_with(|c: char| c.is_ascii_lowercase()) {
            slug.insert_str(0, "plugin_");
        }
        let name = match name {
            Some(name) => name.to_owned(),
            None => title_case(segment.as_deref().unwrap_or(last)),
        };
        Some(Vars { id, name, slug })
    }

    /// `text` with every placeholder replaced.
    pub fn apply(&self, text: &str) -> String {
        text.replace("{{id}}", &self.id)
            .replace("{{name}}", &self.name)
            .replace("{{slug}}", &self.slug)
    }
}

/// A directory name as a lowercase id segment (`[a-z0-9][a-z0-9_-]*`), or `None`
/// if nothing usable is left.
fn id_segment(dir_name: &str) -> Option<String> {
    let mut segment = String::new();
    for c in dir_name.chars() {
        if c.is_ascii_alphanumeric() {
            segment.push(c.to_ascii_lowercase());
        } else if !segment.is_empty() && !segment.ends_with('-') {
            segment.push('-');
        }
    }
    let segment = segment.trim_end_matches('-');
    (!segment.is_empty()).then(|| segment.to_owned())
}

fn title_case(segment: &str) -> String {
    let words = segment.split(['-', '_']).filter(|word| !word.is_empty());
    let words: Vec<String> = words
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    words.join(" ")
}

macro_rules! template_file {
    ($template:literal, $path:literal $(, $exec:ident)?) => {
        TemplateFile {
            path: $path,
            contents: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../templates/", $template, "/", $path)),
            executable: template_file!(@exec $($exec)?),
        }
    };
    (@exec) => { false };
    (@exec executable) => { true };
}

const PYTHON: &[TemplateFile] = &[
    template_file!("python", ".gitignore"),
    template_file!("python", "manifest.json"),
    template_file!("python", "server.py", executable),
    template_file!("python", "admin/index.html"),
];

const RUST: &[TemplateFile] = &[
    template_file!("rust", ".gitignore"),
    template_file!("rust", "Cargo.toml"),
    template_file!("rust", "manifest.json"),
    template_file!("rust", "src/main.rs"),
    template_file!("rust", "admin/index.html"),
];

const STATIC: &[TemplateFile] = &[
    template_file!("static", ".gitignore"),
    template_file!("static", "manifest.json"),
    template_file!("static", "admin/index.html"),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use clap::ValueEnum as _;

    use super::*;

    /// Files under `dir` (skipping build outputs) → executable bit.
    fn files_on_disk(root: &Path, dir: &Path, found: &mut BTreeMap<String, bool>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .replace('\\', "/");
            if ["target", "dist", "Cargo.lock", "__pycache__"].contains(&relative.as_str())
                || relative.ends_with(".pxp")
            {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                files_on_disk(root, &path, found);
            } else {
                #[cfg(unix)]
                let executable = std::os::unix::fs::PermissionsExt::mode(
                    &entry.metadata().unwrap().permissions(),
                ) & 0o111
                    != 0;
                #[cfg(not(unix))]
                let executable = false;
                found.insert(relative, executable);
            }
        }
    }

    #[test]
    fn embedded_tables_match_the_template_directories() {
        for kind in TemplateKind::value_variants() {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../templates")
                .join(kind.name());
            let mut on_disk = BTreeMap::new();
            files_on_disk(&root, &root, &mut on_disk);
            let embedded: BTreeMap<String, bool> = kind
                .files()
                .iter()
                .map(|f| (f.path.to_owned(), f.executable))
                .collect();
            assert_eq!(
                embedded,
                on_disk,
                "templates/{} and its table in templates.rs differ",
                kind.name()
            );
        }
    }

    #[test]
    fn vars_come_from_the_directory_name() {
        let vars = Vars::derive("hello", None, None).unwrap();
        assert_eq!(
            vars,
            Vars {
                id: "com.example.hello".into(),
                name: "Hello".into(),
                slug: "hello".into()
            }
        );

        let vars = Vars::derive("My Cool_plugin!", None, None).unwrap();
        assert_eq!(vars.id, "com.example.my-cool-plugin");
        assert_eq!(vars.name, "My Cool Plugin");
        assert_eq!(vars.slug, "my_cool_plugin");

        let vars = Vars::derive("x", Some("com.acme.2fa"), Some("Two Factor")).unwrap();
        assert_eq!(
            (vars.id.as_str(), vars.name.as_str(), vars.slug.as_str()),
            ("com.acme.2fa", "Two Factor", "plugin_2fa")
        );

        assert_eq!(Vars::derive("___", None, None), None);
    }

    #[test]
    fn every_placeholder_is_replaced() {
        let vars = Vars::derive("hello", None, None).unwrap();
        for kind in TemplateKind::value_variants() {
            for file in kind.files() {
                let text = vars.apply(file.contents);
                for placeholder in ["{{id}}", "{{name}}", "{{slug}}"] {
                    assert!(
                        !text.contains(placeholder),
                        "{} {} keeps {placeholder}",
                        kind.name(),
                        file.path
                    );
                }
                assert!(
                    !text.contains("{{i") && !text.contains("{{n") && !text.contains("{{s"),
                    "{} {}: unknown placeholder",
                    kind.name(),
                    file.path
                );
            }
        }
    }
}
