//! Integration tests with real processes (`sh`, `env`, `python3`).

mod escapers;
mod health;
mod logs;
mod reaper;
mod spawn;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use px_runtime::{LogSink, SpawnSpec, Stream};

/// Lines captured by [`collecting_spec`].
type Lines = Arc<Mutex<Vec<(Stream, String)>>>;

/// A spec with `PATH=/usr/bin:/bin` as its only variable and a sink that collects lines.
fn collecting_spec(program: &str, args: &[&str], cwd: &Path) -> (SpawnSpec, Lines) {
    let lines: Lines = Arc::default();
    let store = lines.clone();
    let sink: LogSink = Arc::new(move |stream, line| store.lock().unwrap().push((stream, line)));
    let spec = SpawnSpec {
        program: program.to_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        cwd: cwd.to_owned(),
        env: BTreeMap::from([("PATH".to_owned(), "/usr/bin:/bin".to_owned())]),
        log_sink: sink,
    };
    (spec, lines)
}

/// `sh -c script` with [`collecting_spec`].
fn sh(script: &str, cwd: &Path) -> (SpawnSpec, Lines) {
    collecting_spec("sh", &["-c", script], cwd)
}

fn stdout_of(lines: &Lines) -> Vec<String> {
    let lines = lines.lock().unwrap();
    lines
        .iter()
        .filter(|(s, _)| *s == Stream::Stdout)
        .map(|(_, l)| l.clone())
        .collect()
}

/// The state letter of `/proc/<pid>/stat`, `None` when the process is gone.
fn proc_state(pid: u32) -> Option<char> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 2..].chars().next()
}

/// Running in any way that counts: present and not a zombie.
fn alive(pid: u32) -> bool {
    proc_state(pid).is_some_and(|state| state != 'Z')
}

/// Field `index` (0 = state) after the command name of `/proc/<pid>/stat`.
fn stat_field(pid: u32, index: usize) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 2..]
        .split(' ')
        .nth(index)?
        .parse()
        .ok()
}

/// Polls `condition` every 10 ms until it holds or `limit` passes.
async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

/// Waits for the first stdout line and parses it as a pid.
async fn first_pid(lines: &Lines) -> u32 {
    assert!(eventually(Duration::from_secs(5), || !stdout_of(lines).is_empty()).await);
    stdout_of(lines)[0].parse().unwrap()
}
