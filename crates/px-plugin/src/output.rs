//! Terminal output: colors, spinners, JSON, errors, sizes.
//!
//! Colors go through `anstream`, which strips them when the stream is not a
//! terminal, when `NO_COLOR` is set, or when `CLICOLOR=0` (and keeps them with
//! `CLICOLOR_FORCE`). Spinners draw on stderr and only on a terminal; `--json`
//! hides them too, so stdout carries nothing but the one JSON object.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::OwoColorize as _;
use serde_json::json;

static JSON_EMITTED: AtomicBool = AtomicBool::new(false);

/// `println!` through `anstream` (colors stripped when not allowed) that does
/// not panic when stdout is closed early, e.g. piped into `head`.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(anstream::stdout(), $($arg)*);
    }};
}
pub(crate) use outln;

/// Prints `value` as the command's one JSON object on stdout.
pub fn emit_json(value: &serde_json::Value) {
    JSON_EMITTED.store(true, Ordering::Relaxed);
    outln!("{value:#}");
}

/// Whether a command already printed its JSON object (even for a failure).
pub fn json_emitted() -> bool {
    JSON_EMITTED.load(Ordering::Relaxed)
}

/// The JSON object printed for an error when the command printed none itself.
pub fn error_json(err: &anyhow::Error, exit_code: u8) -> serde_json::Value {
    let causes: Vec<String> = err.chain().skip(1).map(ToString::to_string).collect();
    json!({ "ok": false, "error": { "message": err.to_string(), "causes": causes, "exit_code": exit_code } })
}

/// Prints `error: <err>` and one `  caused by: <cause>` line per cause, on
/// stderr; an unreachable Core is one line saying what to check, and the
/// root cause.
pub fn print_error(err: &anyhow::Error) {
    let unreachable = err.chain().find_map(|cause| match cause.downcast_ref() {
        Some(crate::exit::CliError::CoreUnreachable { url, .. }) => Some(url),
        _ => None,
    });
    if let Some(url) = unreachable {
        anstream::eprintln!(
            "{} cannot reach core at {url}: is `powerx serve` running there? \
             (--core or PX_CORE_URL points elsewhere)",
            "error:".red().bold()
        );
        if let Some(root) = err.chain().last() {
            anstream::eprintln!("  {} {root}", "caused by:".dimmed());
        }
        return;
    }
    anstream::eprintln!("{} {err}", "error:".red().bold());
    for cause in err.chain().skip(1) {
        anstream::eprintln!("  {} {cause}", "caused by:".dimmed());
    }
}

/// Prints a success line: a green check mark, then `message`, on stdout.
pub fn success(message: impl std::fmt::Display) {
    outln!("{} {message}", "✓".green().bold());
}

/// A spinner on stderr for a long step; invisible when stderr is not a
/// terminal or with `--json`.
#[derive(Debug)]
pub struct Spinner(ProgressBar);

impl Spinner {
    /// Starts a spinner showing `message`.
    pub fn start(message: impl Into<String>, json: bool) -> Spinner {
        if json || !std::io::stderr().is_terminal() {
            return Spinner(ProgressBar::hidden());
        }
        let style = ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}")
            .expect("valid spinner template");
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(80));
        Spinner(bar)
    }

    /// Runs `f` with the spinner erased, so `f` can print lines.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.0.suspend(f)
    }

    /// Removes the spinner.
    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}

/// `bytes` for people: `512 B`, `1.5 KiB`, `12.0 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `duration` for people: `850ms`, `2.35s`.
pub fn human_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{:.2}s", duration.as_secs_f64())
    }
}

/// `path` as a shell word: quoted only when it needs to be.
pub fn shell_word(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12 << 20), "12.0 MiB");
        assert_eq!(human_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(human_duration(Duration::from_millis(2346)), "2.35s");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("hello".as_ref()), "hello");
        assert_eq!(shell_word("my plugin".as_ref()), "'my plugin'");
        assert_eq!(shell_word("it's".as_ref()), r"'it'\''s'");
    }
}
