//! Running `build.command` with its output streamed line by line.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Sender};
use std::thread::{self, JoinHandle};

use crate::{BuildOutput, BundleError};

/// Runs `command` through `sh -c` in `dir`, calling `on_output` for every
/// line of stdout and stderr as it arrives (on the calling thread).
pub(crate) fn run(
    command: &str,
    dir: &Path,
    on_output: &mut dyn FnMut(BuildOutput),
) -> Result<(), BundleError> {
    let spawn_error = |source| BundleError::Spawn {
        command: command.to_owned(),
        source,
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let (tx, rx) = mpsc::channel();
    let readers = [
        forward(
            child.stdout.take().expect("stdout is piped"),
            tx.clone(),
            BuildOutput::Stdout,
        ),
        forward(
            child.stderr.take().expect("stderr is piped"),
            tx,
            BuildOutput::Stderr,
        ),
    ];
    for line in rx {
        on_output(line);
    }
    for reader in readers {
        reader.join().expect("output reader does not panic");
    }
    let status = child.wait().map_err(spawn_error)?;
    if !status.success() {
        return Err(BundleError::CommandFailed {
            command: command.to_owned(),
            status,
        });
    }
    Ok(())
}

/// Sends each line of `stream` (without its line ending, lossily decoded) until EOF.
fn forward(
    stream: impl Read + Send + 'static,
    tx: Sender<BuildOutput>,
    wrap: fn(String) -> BuildOutput,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if line.ends_with(b"\n") {
                line.pop();
                if line.ends_with(b"\r") {
                    line.pop();
                }
            }
            if tx
                .send(wrap(String::from_utf8_lossy(&line).into_owned()))
                .is_err()
            {
                break;
            }
        }
    })
}
