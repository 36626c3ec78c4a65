//! The resolved revision (Spin's manifest vs. locked app): what Core runs
//! for one revision — its processes' commands, environment and health
//! checks, its menus and permissions — written once at `stage` from the
//! manifest as validated (a `plugin.yaml` already mapped), and read back on
//! rollback, follow and recovery instead of parsing the revision's files again.

use px_manifest::Manifest;
use serde::{Deserialize, Serialize};

/// The format of [`Resolved`]; a reader refuses any other.
const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Resolved {
    format: u32,
    manifest: Manifest,
}

/// The resolved revision of `manifest`, as stored.
pub(crate) fn encode(manifest: &Manifest) -> String {
    let resolved = Resolved {
        format: FORMAT,
        manifest: manifest.clone(),
    };
    serde_json::to_string(&resolved).expect("a manifest serializes")
}

/// What a stored resolved revision runs.
pub(crate) fn decode(text: &str) -> anyhow::Result<Manifest> {
    let resolved: Resolved = serde_json::from_str(text)?;
    anyhow::ensure!(
        resolved.format == FORMAT,
        "resolved revision format {} is not {FORMAT}",
        resolved.format
    );
    Ok(resolved.manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_formats() {
        let manifest: Manifest = serde_json::from_str(
            r#"{"manifest_version":1,"id":"com.example.a","name":"A","version":"1.0.0","runtime":{"kind":"process","entry":"run"}}"#,
        )
        .unwrap();
        assert_eq!(decode(&encode(&manifest)).unwrap(), manifest);
        let other = encode(&manifest).replace("\"format\":1", "\"format\":2");
        assert!(decode(&other).is_err());
    }
}
