//! `powerx --version` names Core's version and the PowerX version it is
//! compatible with (what a `plugin.yaml`'s `corex_version` is matched against).

use std::process::Command;

#[test]
fn version_names_core_and_the_powerx_it_is_compatible_with() {
    let output = Command::new(env!("CARGO_BIN_EXE_powerx"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.trim_end(),
        format!(
            "powerx {} (PowerX-compatible {})",
            px_core::VERSION,
            px_core::POWERX_COMPAT_VERSION
        )
    );
}
