//! The `validate` and `resolve` phases.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use px_api::{PluginState, ReasonCode};
use px_manifest::{Manifest, ManifestError, RuntimeKind};

use super::receive::error_chain;
use super::run::{Failure, FailureKind};
use super::task::Handle;

/// The `id` and `version` of a manifest that may be invalid, read leniently,
/// so that a rejection is still reported under the plugin's name.
pub(crate) fn guess_id(staged: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(staged.join(px_manifest::MANIFEST_FILE)).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let id = value.get("id")?.as_str()?;
    let valid = !id.is_empty()
        && id.len() <= px_manifest::ID_MAX_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    let version = value
        .get("version")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    valid.then(|| (id.to_owned(), version.to_owned()))
}

/// Loads the staged manifest and checks that a process plugin's entry exists
/// and is executable (a bare name is a file in the bundle or a command on
/// Core's `PATH`, which plugins get).
pub(crate) fn validate(staged: &Path, plugin_ids: &[String]) -> Result<Manifest, Failure> {
    let loaded = px_manifest::load_dir(staged).map_err(|error| {
        let mut failure = Failure::new(
            FailureKind::Invalid,
            ReasonCode::ManifestInvalid,
            // name the file as the developer knows it, not Core's staging path
            error_chain(&error).replace(&format!("{}/", staged.display()), ""),
        );
        if let ManifestError::Invalid { diagnostics, .. } = &error {
            failure.details = diagnostics
                .iter()
                .filter_map(|d| serde_json::to_value(d).ok())
                .collect();
        }
        failure
    })?;
    let manifest = loaded.manifest;
    if !id_allowed(&manifest.id, plugin_ids) {
        return Err(Failure::new(
            FailureKind::Forbidden,
            ReasonCode::Forbidden,
            format!(
                "plugin id {} is not allowed by the policy's dev.plugin_ids",
                manifest.id
            ),
        ));
    }
    if manifest.runtime.kind == RuntimeKind::Process {
        let entry = manifest.runtime.entry.as_deref().unwrap_or_default();
        check_entry(staged, "runtime.entry", entry)?;
    }
    if let Some(admin) = manifest.admin.as_ref().and_then(|a| a.process.as_ref()) {
        check_entry(staged, "admin.process.entry", &admin.entry)?;
    }
    Ok(manifest)
}

fn id_allowed(id: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|pattern| {
        globset::Glob::new(pattern).is_ok_and(|glob| glob.compile_matcher().is_match(id))
    })
}

/// `entry` (the manifest field `field`) is an executable file in the bundle
/// or a command on `PATH`.
fn check_entry(dir: &Path, field: &str, entry: &str) -> Result<(), Failure> {
    let missing =
        |message: String| Failure::new(FailureKind::Invalid, ReasonCode::EntryMissing, message);
    if entry.is_empty() {
        return Err(missing(format!("{field} is empty")));
    }
    if entry.contains('/') {
        // an absolute entry names a program outside the bundle (like a bare command)
        let path = dir.join(entry);
        if entry.split('/').any(|part| part == "..") {
            return Err(missing(format!("{field} {entry:?} leaves the bundle")));
        }
        return match path.metadata() {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => Ok(()),
            Ok(meta) if meta.is_file() => {
                Err(missing(format!("{field} {entry} is not executable")))
            }
            _ => Err(missing(format!(
                "{field} {entry} does not exist in the bundle"
            ))),
        };
    }
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if executable(&dir.join(entry)) {
        return Ok(());
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .filter(|d| !d.is_empty())
        .any(|d| executable(&Path::new(d).join(entry)));
    if found {
        Ok(())
    } else {
        Err(missing(format!(
            "{field} {entry} is not a file in the bundle nor a command on PATH"
        )))
    }
}

/// `range` (the manifest field `field`) matches `version`, which `host` names.
fn host_matches(field: &str, range: &str, version: &str, host: &str) -> Result<(), Failure> {
    let req = semver::VersionReq::parse(range)
        .map_err(|e| Failure::conflict(format!("{field} {range:?} is not a semver range: {e}")))?;
    let version_parsed = semver::Version::parse(version).expect("Core's versions are semver");
    if req.matches(&version_parsed) {
        Ok(())
    } else {
        Err(Failure::conflict(format!(
            "{field} {range} does not match {host} ({version})"
        )))
    }
}

/// Checks `requires.powerx` and `requires.corex`, the dependencies (installed, active, in range),
/// and permission key collisions with every other plugin. Routes cannot
/// collide (each plugin owns `/_p/<id>/` and ids are unique), nor can menu
/// ids: they are scoped to their plugin.
pub(crate) fn resolve(
    manifest: &Manifest,
    others: &[std::sync::Arc<Handle>],
) -> Result<(), Failure> {
    let requires = manifest.requires.as_ref();
    if let Some(range) = requires.and_then(|r| r.powerx.as_deref()) {
        host_matches("requires.powerx", range, crate::VERSION, "this Core")?;
    }
    if let Some(range) = requires.and_then(|r| r.corex.as_deref()) {
        host_matches(
            "requires.corex (corex_version)",
            range,
            crate::POWERX_COMPAT_VERSION,
            "the PowerX version this Core is compatible with",
        )?;
    }
    for (dep, range) in &manifest.dependencies {
        let req = semver::VersionReq::parse(range).map_err(|e| {
            Failure::conflict(format!(
                "dependency {dep} range {range:?} is not semver: {e}"
            ))
        })?;
        let handle = others.iter().find(|h| &h.id == dep);
        let running = handle.and_then(|h| {
            let view = h.view();
            let serving =
                view.state == PluginState::Active || view.state == PluginState::RolledBack;
            view.current.clone().filter(|_| serving)
        });
        let Some(running) = running else {
            return Err(Failure::conflict(format!(
                "dependency {dep} is not installed and active"
            )));
        };
        let version = semver::Version::parse(&running.manifest().version).ok();
        if !version.is_some_and(|v| req.matches(&v)) {
            return Err(Failure::conflict(format!(
                "dependency {dep} is at version {}, which does not match {range}",
                running.manifest().version
            )));
        }
    }
    let keys: Vec<&str> = manifest
        .permissions
        .iter()
        .map(|p| p.key.as_str())
        .collect();
    for other in others.iter().filter(|s| s.id != manifest.id) {
        let Some(running) = other.view().current.clone() else {
            continue;
        };
        let theirs = running.manifest();
        if let Some(permission) = theirs
            .permissions
            .iter()
            .find(|p| keys.contains(&p.key.as_str()))
        {
            return Err(Failure::conflict(format!(
                "permission {:?} is already registered by plugin {}",
                permission.key, other.id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_globs() {
        assert!(id_allowed("com.acme.hello", &["*".to_owned()]));
        assert!(id_allowed("com.acme.hello", &["com.acme.*".to_owned()]));
        assert!(!id_allowed("org.other.x", &["com.acme.*".to_owned()]));
        assert!(!id_allowed("org.other.x", &[]));
    }

    #[test]
    fn host_versions() {
        assert!(host_matches("requires.corex", ">=0.1.0", "0.7.0", "PowerX").is_ok());
        let refused = host_matches("requires.corex", ">=1.0.0", "0.7.0", "PowerX").unwrap_err();
        assert_eq!(refused.code, ReasonCode::DependencyConflict);
        assert_eq!(
            refused.message,
            "requires.corex >=1.0.0 does not match PowerX (0.7.0)"
        );
        let bad = host_matches("requires.corex", "one", "0.7.0", "PowerX").unwrap_err();
        assert_eq!(bad.code, ReasonCode::DependencyConflict);
        assert!(semver::Version::parse(crate::POWERX_COMPAT_VERSION).is_ok());
    }

    #[test]
    fn entries() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            check_entry(dir.path(), "runtime.entry", "sh").map_err(|f| f.code),
            Ok(())
        );
        let missing = check_entry(dir.path(), "runtime.entry", "./nope").unwrap_err();
        assert_eq!(missing.code, ReasonCode::EntryMissing);
        std::fs::write(dir.path().join("run"), "#!/bin/sh\n").unwrap();
        assert!(
            check_entry(dir.path(), "runtime.entry", "./run").is_err(),
            "not executable"
        );
        std::fs::set_permissions(
            dir.path().join("run"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert!(check_entry(dir.path(), "runtime.entry", "./run").is_ok());
        // a bare name that is a file in the bundle (the Rust template's `dist/x`)
        assert!(check_entry(dir.path(), "runtime.entry", "run").is_ok());
        assert!(check_entry(dir.path(), "runtime.entry", "../run").is_err());
        assert!(check_entry(dir.path(), "runtime.entry", "no-such-command-px").is_err());
    }
}
