//! `docs/guides/dev/hotload-debug.md` is executed: every ```console block,
//! in order, in one shell session against the real `powerx` and `px-plugin`
//! (see `tests/docs/mod.rs` for the session).
//!
//! - ```` ```console ````: each `$ command` (with `> ` continuation lines)
//!   runs to completion; its stdout and stderr together must match the lines
//!   that follow (`[..]` = any text within a line, `...` = any lines, `[CWD]`
//!   = the working directory, `[CORE]` = Core's URL). A command that exits
//!   non-zero must be followed by `$ echo $?` showing its status.
//! - ```` ```console background ````: the one command keeps running (Core,
//!   `dev --watch`); its first lines must match, and later ones are matched
//!   by the next ```` ```console continued ```` blocks, where a line `^C`
//!   sends it Ctrl-C (it must then exit 0).
//!
//! Other blocks (`text`, `json`, `sh`) are not run.

mod docs;

use std::time::Duration;

use docs::markdown::{Block, blocks, steps};
use docs::matching::{lines_of, matches_all};
use docs::session::Session;

const GUIDE: &str = "docs/guides/dev/hotload-debug.md";
/// Longest wait for a background command's expected lines.
const BACKGROUND_LIMIT: Duration = Duration::from_secs(90);

#[test]
fn the_debugging_guide_runs_as_written() {
    let text = std::fs::read_to_string(docs::repo().join(GUIDE)).unwrap();
    let console: Vec<Block> = blocks(&text)
        .into_iter()
        .filter(|b| b.info.first().is_some_and(|w| w == "console"))
        .collect();
    assert!(
        console.len() >= 10,
        "the guide has {} console blocks",
        console.len()
    );
    let mut session = Session::start(&docs::bin_dir());
    for block in &console {
        match block.info.get(1).map(String::as_str) {
            None => run_block(&mut session, block),
            Some("background") => {
                let steps = steps(block);
                assert_eq!(
                    steps.len(),
                    1,
                    "{GUIDE}:{}: one command in the background",
                    block.line
                );
                session.spawn(&steps[0].command);
                session.expect_background(&steps[0].expected, BACKGROUND_LIMIT);
            }
            Some("continued") => {
                let steps = steps(block);
                assert!(
                    steps.len() == 1 && steps[0].command.is_empty(),
                    "{GUIDE}:{}: a continued block has output only",
                    block.line
                );
                let expected = &steps[0].expected;
                match expected.iter().position(|l| l == "^C") {
                    None => session.expect_background(expected, BACKGROUND_LIMIT),
                    Some(at) => {
                        session.expect_background(&expected[..at], BACKGROUND_LIMIT);
                        let status = session.interrupt();
                        session.expect_background(&expected[at + 1..], Duration::from_secs(5));
                        assert_eq!(
                            status, 0,
                            "{GUIDE}:{}: exit status after Ctrl-C",
                            block.line
                        );
                        session.finish_background();
                    }
                }
            }
            Some(other) => panic!("{GUIDE}:{}: unknown console block kind {other}", block.line),
        }
    }
    session.stop_all();
}

fn run_block(session: &mut Session, block: &Block) {
    let steps = steps(block);
    for (i, step) in steps.iter().enumerate() {
        assert!(
            !step.command.is_empty(),
            "{GUIDE}:{}: output before the first `$ `",
            block.line
        );
        let (output, status) = session.run(&step.command);
        let lines = lines_of(&output);
        assert!(
            matches_all(&step.expected, &lines),
            "{GUIDE}:{}: `{}` printed:\n{}\n\nthe guide expects:\n{}",
            block.line,
            step.command,
            lines.join("\n"),
            step.expected.join("\n")
        );
        let checked = steps
            .get(i + 1)
            .is_some_and(|next| next.command == "echo $?");
        assert!(
            status == 0 || checked,
            "{GUIDE}:{}: `{}` exited with {status}; show it with `$ echo $?`",
            block.line,
            step.command
        );
    }
}

#[test]
fn every_failure_reason_has_a_section() {
    let text = std::fs::read_to_string(docs::repo().join(GUIDE)).unwrap();
    let api: serde_json::Value = serde_json::from_str(px_core::http::openapi::served()).unwrap();
    let codes = api["components"]["schemas"]["ReasonCode"]["enum"]
        .as_array()
        .unwrap();
    assert!(codes.len() >= 11);
    for code in codes {
        let code = code.as_str().unwrap();
        // bad_request and forbidden are policy refusals, under "Permission errors"
        let found = match code {
            "bad_request" | "forbidden" => {
                text.contains("### Permission errors") && text.contains(&format!("`{code}`"))
            }
            _ => text.contains(&format!("\n### `{code}`\n")),
        };
        assert!(found, "{GUIDE} has no section for the reason code {code}");
    }
}
