//! README.md's "A five-minute tour" runs as written, from a fresh home
//! directory, using only the commands it shows (every line of its ```sh
//! blocks, comments removed), in one shell session (`tests/docs/mod.rs`):
//!
//! - `cargo install …` lines are checked to name `crates/powerx` and
//!   `crates/px-plugin`, and skipped: the session already has this build's
//!   binaries first on `PATH`.
//! - `powerx serve …` and `px-plugin dev … --watch` keep running, as in a
//!   terminal of their own: they start in the background, the tour goes on
//!   once Core prints `listening on …` or the session its first `↻ … live`,
//!   and both get Ctrl-C at the end (they must exit 0).
//! - Every other line must exit 0. A `curl` of `/_p/…` must answer the
//!   plugin's JSON; after a `sed` edit the test retries it until the answer
//!   changes (the hot reload takes a moment).
//!
//! The tour must create a plugin, install it (`install` or `dev`), reach it
//! through `/_p/<id>/api/…` and uninstall it; afterwards the proxy answers 404.

mod docs;

use std::time::{Duration, Instant};

use docs::markdown::{blocks, section};
use docs::session::Session;

#[test]
fn the_readme_tour_runs_as_written() {
    let readme = std::fs::read_to_string(docs::repo().join("README.md")).unwrap();
    let tour = section(&readme, "A five-minute tour");
    let commands: Vec<String> = blocks(tour)
        .into_iter()
        .filter(|b| b.info.first().is_some_and(|w| w == "sh"))
        .flat_map(|b| b.lines)
        .map(|line| match line.find("  #") {
            Some(at) => line[..at].trim().to_owned(),
            None => line.trim().to_owned(),
        })
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let shown = |what: &str| commands.iter().any(|c| c.contains(what));
    for step in ["px-plugin new", "/_p/", "px-plugin uninstall"] {
        assert!(
            shown(step),
            "the tour does not show `{step}`: {commands:#?}"
        );
    }
    assert!(
        shown("px-plugin install") || shown("px-plugin dev"),
        "the tour installs nothing"
    );

    let mut session = Session::start(&docs::bin_dir());
    let mut installs = Vec::new();
    let mut last_answer: Option<String> = None;
    let mut edited = false;
    let mut plugin_url = None;
    for command in &commands {
        if command.starts_with("cargo install") {
            installs.push(command.clone());
        } else if command.contains("powerx serve") {
            session.spawn(command);
            session.expect_background(
                &["...".into(), "listening on http://127.0.0.1:8077".into()],
                Duration::from_secs(60),
            );
        } else if command.contains("px-plugin dev") && command.contains("--watch") {
            session.spawn(command);
            session.expect_background(
                &["...".into(), "↻ r[..] live in [..]".into()],
                Duration::from_secs(60),
            );
        } else if command.starts_with("curl") && command.contains("/_p/") {
            plugin_url = command
                .split_whitespace()
                .find(|w| w.contains("/_p/"))
                .map(str::to_owned);
            let deadline = Instant::now() + Duration::from_secs(20);
            let answer = loop {
                let (output, status) = session.run(command);
                let json = serde_json::from_str::<serde_json::Value>(&output).ok();
                let fresh = !edited || last_answer.as_deref() != Some(&*output);
                if status == 0 && json.is_some_and(|j| j.get("message").is_some()) && fresh {
                    break output;
                }
                assert!(
                    Instant::now() < deadline,
                    "`{command}` (exit {status}) answered:\n{output}\nafter: {last_answer:?}"
                );
                std::thread::sleep(Duration::from_millis(200));
            };
            last_answer = Some(answer);
            edited = false;
        } else {
            let (output, status) = session.run(command);
            assert_eq!(status, 0, "`{command}` failed:\n{output}");
            edited |= command.starts_with("sed ");
        }
    }
    assert!(
        installs.iter().any(|c| c.contains("crates/powerx"))
            && installs.iter().any(|c| c.contains("crates/px-plugin")),
        "the tour should install both binaries: {installs:?}"
    );
    let url = plugin_url.unwrap();
    let (code, _) = session.run(&format!("curl -s -o /dev/null -w '%{{http_code}}' {url}"));
    assert_eq!(
        code, "404",
        "after the tour's uninstall, {url} still answers"
    );
    session.stop_all();
}
