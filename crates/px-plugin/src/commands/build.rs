//! `px-plugin build [DIR] [--pxp] [--out FILE]`

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use owo_colors::OwoColorize as _;
use px_bundle::BuildOutput;
use serde_json::json;

use crate::cli::Global;
use crate::commands::validate;
use crate::output::{self, Spinner, outln};

const EXAMPLES: &str = "\
Examples:
  px-plugin build                        Build ./dist from the plugin in the current directory
  px-plugin build hello --pxp            Also pack hello/<id>-<version>.pxp
  px-plugin build hello --out /tmp/h.pxp Pack to a file of your choice
  px-plugin build hello --pxp --json     One JSON object: dist, pxp, digest, files, bytes, duration_ms

Building twice from the same sources gives byte-identical .pxp files.";

/// Build a plugin's dist/ directory, and with --pxp one .pxp file.
///
/// Validates the manifest, runs its `build.command` in DIR (output streamed,
/// prefixed with `│`), then fills a fresh DIR/dist/ with manifest.json
/// (without its `build` section) and the files named by `build.files`. A
/// plugin.yaml project without a build section (a PowerX plugin as it is)
/// gets manifest.json (the descriptor as read) and the paths plugin.yaml
/// names: runtime.entry, the admin process's Nuxt .output or file,
/// frontend.admin.static_dir, migrations.entry and workdir, and config/;
/// build those first (go build, npm run build). With
/// --pxp, packs dist/ into a deterministic .pxp: a zstd-compressed tar with
/// sha256 checksums, the file Core installs.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Build {
    /// Plugin project directory
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// Also pack dist/ into DIR/<id>-<version>.pxp
    #[arg(long)]
    pub pxp: bool,

    /// Write the .pxp to FILE instead (implies --pxp)
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

impl Build {
    /// Builds, packs and reports.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let started = Instant::now();
        let loaded = validate::load(&self.dir, global)?;
        let manifest = &loaded.manifest;

        let spinner = Spinner::start(
            format!("building {} {}", manifest.id, manifest.version),
            global.json,
        );
        let mut on_output = |line: BuildOutput| spinner.suspend(|| print_build_line(&line));
        let dist = px_bundle::build_project(&self.dir, &loaded, &mut on_output);
        spinner.finish();
        let dist = dist.with_context(|| format!("building dist/ for {}", manifest.id))?;

        let pxp_path = match (&self.out, self.pxp) {
            (Some(out), _) => Some(out.clone()),
            (None, true) => Some(
                self.dir
                    .join(format!("{}-{}.pxp", manifest.id, manifest.version)),
            ),
            (None, false) => None,
        };
        let summary = match &pxp_path {
            Some(path) => {
                let spinner = Spinner::start(format!("packing {}", path.display()), global.json);
                let summary = pack_to_file(&dist, path);
                spinner.finish();
                summary.with_context(|| {
                    format!("packing {} into {}", dist.display(), path.display())
                })?
            }
            None => px_bundle::digest_dir(&dist)
                .with_context(|| format!("reading {}", dist.display()))?,
        };
        let pxp_bytes = match &pxp_path {
            Some(path) => Some(
                std::fs::metadata(path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .len(),
            ),
            None => None,
        };
        let elapsed = started.elapsed();

        if global.json {
            output::emit_json(&json!({
                "ok": true,
                "plugin_id": manifest.id,
                "version": manifest.version,
                "dist": dist,
                "pxp": pxp_path,
                "pxp_bytes": pxp_bytes,
                "digest": summary.digest,
                "files": summary.files,
                "bytes": summary.bytes,
                "duration_ms": elapsed.as_millis() as u64,
                "warnings": loaded.warnings,
            }));
            return Ok(());
        }
        output::success(format_args!(
            "built {} {} in {}",
            manifest.id,
            manifest.version,
            output::human_duration(elapsed)
        ));
        outln!("  {}    {}", "dist".dimmed(), dist.display());
        if let (Some(path), Some(bytes)) = (&pxp_path, pxp_bytes) {
            outln!(
                "  {}     {} ({})",
                "pxp".dimmed(),
                path.display().bold(),
                output::human_bytes(bytes)
            );
        }
        outln!(
            "  {}   {} ({})",
            "files".dimmed(),
            summary.files,
            output::human_bytes(summary.bytes)
        );
        outln!("  {}  sha256:{}", "digest".dimmed(), summary.digest);
        Ok(())
    }
}

/// One line of `build.command` output on stderr, prefixed and dimmed.
fn print_build_line(line: &BuildOutput) {
    match line {
        BuildOutput::Stdout(text) => anstream::eprintln!("  {} {}", "│".dimmed(), text.dimmed()),
        BuildOutput::Stderr(text) => {
            anstream::eprintln!("  {} {}", "│".yellow().dimmed(), text.dimmed())
        }
    }
}

/// Packs `dist` into `path` through a temporary file beside it, so `path` is
/// either the old file or the complete new one.
fn pack_to_file(dist: &Path, path: &Path) -> anyhow::Result<px_bundle::Summary> {
    let file_name = path
        .file_name()
        .context("the .pxp path has no file name")?
        .to_string_lossy();
    let partial = path.with_file_name(format!(".{file_name}.partial-{}", std::process::id()));
    let result = (|| {
        let mut out = BufWriter::new(
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?,
        );
        let summary = px_bundle::pack(dist, &mut out)?;
        out.flush()?;
        out.into_inner()
            .map_err(|err| err.into_error())?
            .sync_all()?;
        std::fs::rename(&partial, path)
            .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}
