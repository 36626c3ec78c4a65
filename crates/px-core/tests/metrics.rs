//! `/metrics` after real installs: the five dev-loop series move, and
//! `promtool check metrics` accepts the exposition.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Core, HELLO, mode};

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in:\n{text}"))
}

#[tokio::test]
async fn installs_move_the_series_and_promtool_accepts_them() {
    let core = Core::start().await;
    let good = core.plugin("good", HELLO, "1.0.0", |_| {});
    let (status, _) = core.install_dir(&good).await;
    assert_eq!(status, 200);
    for version in ["1.0.1", "1.0.2"] {
        let bad = core.plugin("bad", HELLO, version, mode("exit"));
        let (status, _) = core.install_dir(&bad).await;
        assert_eq!(status, 502);
    }

    let text = core
        .client
        .get(format!("{}/metrics", core.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(&text, "plugin_dev_install_total{result=\"success\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "plugin_dev_install_total{result=\"failure\"}"),
        2.0
    );
    assert_eq!(
        metric(&text, "plugin_dev_install_consecutive_failures"),
        2.0
    );
    assert_eq!(metric(&text, "plugin_dev_rollback_total"), 2.0);
    let rate = metric(&text, "plugin_dev_install_success_rate");
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}");
    assert_eq!(
        metric(
            &text,
            "plugin_dev_install_duration_seconds_count{result=\"failure\"}"
        ),
        2.0
    );

    let (status, alerts) = core.get("/api/alerts").await;
    assert_eq!(status, 200);
    assert!(
        alerts
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["firing"] == true),
        "{alerts}"
    );

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed: scripts/test installs it");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}\n{text}"
    );
}
