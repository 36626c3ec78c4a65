//! `px-plugin new DIR --template python|rust|static`

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use owo_colors::OwoColorize as _;
use serde_json::json;

use crate::cli::Global;
use crate::exit::CliError;
use crate::output::{self, outln};
use crate::templates::{TemplateKind, Vars};

const EXAMPLES: &str = "\
Examples:
  px-plugin new hello                              Python plugin com.example.hello in ./hello
  px-plugin new hello-rs --template rust           Rust plugin com.example.hello-rs
  px-plugin new docs --template static             Admin page only, no process
  px-plugin new billing --id com.acme.billing      Choose the plugin id yourself";

/// Create a plugin project from a template.
///
/// Writes the template into DIR (which must not exist or be empty). The plugin
/// id and name come from DIR's name: `hello` gives id `com.example.hello` and
/// name `Hello`; --id and --name override them. Every template validates and
/// builds as it is.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct New {
    /// Directory to create; must not exist yet or be empty
    pub dir: PathBuf,

    /// Template to start from
    #[arg(long, short, value_enum, default_value_t = TemplateKind::Python)]
    pub template: TemplateKind,

    /// Plugin id, reverse-DNS like com.acme.hello [default: com.example.<DIR name>]
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,

    /// Display name [default: DIR name in title case]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

impl New {
    /// Writes the project and prints the next steps.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let dir_name = dir_name(&self.dir)?;
        let Some(vars) = Vars::derive(&dir_name, self.id.as_deref(), self.name.as_deref()) else {
            return Err(CliError::Usage(format!("cannot make a plugin id from the directory name {dir_name:?}; pass --id, e.g. --id com.acme.hello")).into());
        };
        check_manifest(self.template, &vars)?;
        ensure_empty(&self.dir)?;

        let mut written = Vec::new();
        for file in self.template.files() {
            let path = self.dir.join(file.path);
            write_file(&path, &vars.apply(file.contents), file.executable)
                .with_context(|| format!("writing {}", path.display()))?;
            written.push(file.path);
        }

        if global.json {
            output::emit_json(&json!({
                "ok": true,
                "dir": self.dir,
                "template": self.template.name(),
                "plugin_id": vars.id,
                "name": vars.name,
                "files": written,
            }));
            return Ok(());
        }
        output::success(format_args!(
            "created {} ({} template) in {}",
            vars.id,
            self.template.name(),
            self.dir.display()
        ));
        let dir = output::shell_word(&self.dir);
        let steps = [
            (format!("px-plugin validate {dir}"), "check the manifest"),
            (
                format!("px-plugin build {dir} --pxp"),
                "build dist/ and a .pxp",
            ),
            (
                format!("px-plugin dev {dir} --watch"),
                "with Core running (`powerx serve --dev`): install, reload on save",
            ),
        ];
        let width = steps
            .iter()
            .map(|(command, _)| command.len())
            .max()
            .unwrap_or(0);
        outln!("\nNext steps:");
        for (command, what) in steps {
            outln!("  {command:<width$}   {}", what.dimmed());
        }
        Ok(())
    }
}

/// The last component of `dir` once made absolute (so `.` names the current directory).
fn dir_name(dir: &Path) -> anyhow::Result<String> {
    let absolute = if dir.exists() {
        dir.canonicalize()
    } else {
        std::path::absolute(dir)
    };
    let absolute = absolute.with_context(|| format!("resolving {}", dir.display()))?;
    let name = absolute.file_name().and_then(|name| name.to_str());
    name.map(str::to_owned)
        .with_context(|| format!("{} has no usable directory name; pass --id", dir.display()))
}

/// Validates the manifest the template would write, so a bad --id fails before any file is written.
fn check_manifest(template: TemplateKind, vars: &Vars) -> anyhow::Result<()> {
    let file = template
        .files()
        .iter()
        .find(|file| file.path == px_manifest::MANIFEST_FILE)
        .context("template has no manifest.json")?;
    let text = vars.apply(file.contents);
    let path = Path::new(px_manifest::MANIFEST_FILE);
    match px_manifest::parse_json(&text, path, None) {
        Ok(_) => Ok(()),
        Err(px_manifest::ManifestError::Invalid { diagnostics, .. }) => {
            let faults: Vec<String> = diagnostics
                .iter()
                .map(|d| format!("{}: {}", d.pointer, d.message))
                .collect();
            Err(CliError::Usage(format!(
                "the manifest would be invalid with these values: {}",
                faults.join("; ")
            ))
            .into())
        }
        Err(err) => Err(anyhow::Error::new(err).context("checking the template's manifest")),
    }
}

fn ensure_empty(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(CliError::Failed(format!(
                    "{} already exists and is not empty; choose a new directory name",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) if dir.exists() => Err(err)
            .with_context(|| format!("{} exists but is not a directory I can read", dir.display())),
        Err(err) => Err(err).with_context(|| format!("reading {}", dir.display())),
    }
}

fn write_file(path: &Path, contents: &str, executable: bool) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, contents)?;
    #[cfg(unix)]
    if executable {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    #[cfg(not(unix))]
    let _ = executable;
    Ok(())
}
