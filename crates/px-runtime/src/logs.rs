//! Line capture from a plugin's stdout and stderr.
//!
//! One task per pipe reads lines and never waits for anything but the pipe:
//! lines go into a bounded per-process queue with `try_send` (a full queue
//! drops the line and counts it), and one forwarding task hands them to the
//! [`LogSink`]. So neither a slow sink nor a burst of output can block the plugin.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::{LogSink, Stream};

/// Longest line delivered, in bytes; the rest of a longer line is discarded.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Lines buffered between the pipe readers and the sink, per process.
const QUEUE_LINES: usize = 8192;
/// Stderr lines kept for failure reasons.
const TAIL_LINES: usize = 50;
/// Read buffer per pipe.
const READ_BUFFER: usize = 64 * 1024;

/// Per-process capture state shared with [`crate::Process`].
#[derive(Debug, Default)]
pub(crate) struct LogState {
    dropped: AtomicU64,
    stderr_tail: Mutex<VecDeque<String>>,
}

impl LogState {
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn last_stderr(&self, n: usize) -> Vec<String> {
        let tail = self.stderr_tail.lock().unwrap();
        tail.iter()
            .skip(tail.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    fn remember_stderr(&self, line: &str) {
        let mut tail = self.stderr_tail.lock().unwrap();
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.to_owned());
    }
}

/// Starts the reader and forwarding tasks on the current runtime. The returned
/// future completes when both pipes reached end of file.
pub(crate) fn capture(
    stdout: impl AsyncRead + Unpin + Send + 'static,
    stderr: impl AsyncRead + Unpin + Send + 'static,
    sink: LogSink,
    state: Arc<LogState>,
) -> impl Future<Output = ()> + Send + 'static {
    let (tx, mut rx) = mpsc::channel::<(Stream, String)>(QUEUE_LINES);
    tokio::spawn(async move {
        while let Some((stream, line)) = rx.recv().await {
            sink(stream, line);
        }
    });
    let out = tokio::spawn(read_lines(
        stdout,
        Stream::Stdout,
        tx.clone(),
        state.clone(),
    ));
    let err = tokio::spawn(read_lines(stderr, Stream::Stderr, tx, state));
    async move {
        let _ = out.await;
        let _ = err.await;
    }
}

/// Reads `pipe` to end of file, splitting lines on `\n` (a trailing `\r` is
/// removed), capping them at [`MAX_LINE_BYTES`] and decoding them lossily.
async fn read_lines(
    pipe: impl AsyncRead + Unpin,
    stream: Stream,
    tx: mpsc::Sender<(Stream, String)>,
    state: Arc<LogState>,
) {
    let mut reader = BufReader::with_capacity(READ_BUFFER, pipe);
    let mut line = Vec::with_capacity(256);
    // true while discarding the rest of a line that was already delivered truncated
    let mut skipping = false;
    loop {
        let buf = match reader.fill_buf().await {
            Ok(buf) => buf,
            Err(error) => {
                tracing::debug!(?stream, %error, "log pipe read failed");
                break;
            }
        };
        if buf.is_empty() {
            if !line.is_empty() {
                emit(&mut line, stream, &tx, &state);
            }
            break;
        }
        let newline = buf.iter().position(|&b| b == b'\n');
        let chunk = &buf[..newline.unwrap_or(buf.len())];
        let used = chunk.len() + usize::from(newline.is_some());
        if skipping {
            skipping = newline.is_none();
        } else {
            let room = MAX_LINE_BYTES - line.len();
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if newline.is_some() {
                emit(&mut line, stream, &tx, &state);
            } else if line.len() == MAX_LINE_BYTES {
                emit(&mut line, stream, &tx, &state);
                skipping = true;
            }
        }
        reader.consume(used);
    }
}

fn emit(line: &mut Vec<u8>, stream: Stream, tx: &mpsc::Sender<(Stream, String)>, state: &LogState) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let text = String::from_utf8_lossy(line).into_owned();
    line.clear();
    if stream == Stream::Stderr {
        state.remember_stderr(&text);
    }
    if tx.try_send((stream, text)).is_err() {
        state.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// A ready-made non-blocking [`LogSink`]: lines go into a bounded channel of
/// `capacity` lines (at least 1) with `try_send`; lines that do not fit are
/// dropped and counted in the returned counter.
pub fn bounded_sink(
    capacity: usize,
) -> (LogSink, mpsc::Receiver<(Stream, String)>, Arc<AtomicU64>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    let sink: LogSink = Arc::new(move |stream, line| {
        if tx.try_send((stream, line)).is_err() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    (sink, rx, dropped)
}
