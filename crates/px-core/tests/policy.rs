//! Policy files: the default, a full file, and faults that must stop Core
//! with the right line and column.

use std::path::Path;

use px_core::policy::{Policy, PolicyError};

fn parse(text: &str) -> Result<Policy, PolicyError> {
    Policy::parse(text, Path::new("policy.yaml"))
}

#[test]
fn empty_file_is_the_default() {
    assert_eq!(parse("").unwrap(), Policy::default());
    let default = Policy::default();
    assert_eq!(default.dev.max_bundle_bytes, 268_435_456);
    assert_eq!(default.dev.probation_ms, 3000);
    assert_eq!(default.audit.retention_days, 7);
    assert_eq!(
        default.permissions("plugin-developer"),
        ["plugin:dev", "plugin:read", "audit:read"]
    );
}

#[test]
fn spec_example_parses() {
    let text = r#"
roles:
  admin: ["*"]
  plugin-developer: ["plugin:dev", "plugin:read", "audit:read"]
  viewer: ["plugin:read"]
dev:
  enabled: false
  allowed_dirs: ["~", "/srv/plugins"]
  plugin_ids: ["com.acme.*"]
  max_bundle_bytes: 1048576
  health_timeout_ms: 5000
  probation_ms: 0
audit:
  retention_days: 3
"#;
    let policy = parse(text).unwrap();
    assert_eq!(policy.dev.plugin_ids, ["com.acme.*"]);
    assert_eq!(policy.dev.max_bundle_bytes, 1_048_576);
    assert_eq!(policy.dev.probation_ms, 0);
    assert_eq!(policy.audit.retention_days, 3);
    let dirs = policy.allowed_dirs(Some(Path::new("/home/dev")));
    assert_eq!(dirs, [Path::new("/home/dev"), Path::new("/srv/plugins")]);
}

#[test]
fn missing_keys_take_defaults() {
    let policy = parse("dev:\n  enabled: true\n").unwrap();
    assert!(policy.dev.enabled);
    assert_eq!(policy.dev.health_timeout_ms, 30_000);
    assert_eq!(policy.roles, Policy::default().roles);
}

/// (policy text, expected line, expected column, a word the message must contain)
const FAULTS: &[(&str, u64, u64, &str)] = &[
    ("color: blue\n", 1, 1, "color"),
    (
        "dev:\n  enabled: true\n  allowd_dirs: [\"/tmp\"]\n",
        3,
        3,
        "allowd_dirs",
    ),
    (
        "dev:\n  max_bundle_bytes: lots\n",
        2,
        21,
        "max_bundle_bytes",
    ),
    ("dev:\n  enabled: maybe\n", 2, 12, "enabled"),
    (
        "dev:\n  health_timeout_ms: -5\n",
        2,
        22,
        "health_timeout_ms",
    ),
    ("audit:\n  retention_days: 0\n", 2, 3, "retention_days"),
    ("dev:\n  max_bundle_bytes: 0\n", 2, 3, "max_bundle_bytes"),
    ("dev:\n  plugin_ids: [\"com.acme.[\"]\n", 2, 3, "plugin_ids"),
    (
        "dev:\n  allowed_dirs: [\"relative/dir\"]\n",
        2,
        3,
        "allowed_dirs",
    ),
    ("roles:\n  viewer: plugin:read\n", 2, 11, "viewer"),
    ("dev: [1, 2]\n", 1, 6, "dev"),
    (
        "dev:\n  enabled: true\n   probation_ms: 5\n",
        2,
        12,
        "enabled",
    ),
];

#[test]
fn faults_stop_with_line_and_column() {
    for (text, line, column, word) in FAULTS {
        match parse(text) {
            Err(PolicyError::Invalid {
                line: l,
                column: c,
                message,
                ..
            }) => {
                assert_eq!((l, c), (*line, *column), "position for {text:?}: {message}");
                assert!(
                    message.contains(word),
                    "message for {text:?} names {word:?}: {message}"
                );
            }
            other => panic!("{text:?} should be refused, got {other:?}"),
        }
    }
}
