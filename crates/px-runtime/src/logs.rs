//! Line capture from a plugin's stdout and stderr.
//!
//! One task per pipe reads lines and never waits for anything but the pipe:
//! the lines of each read go as one batch into a per-process queue bounded by
//! bytes (a batch that does not fit is dropped and its lines counted), and one
//! forwarding task hands them to the [`LogSink`]. So neither a slow sink nor a
//! burst of output can block the plugin.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::{LogSink, Stream};

/// Longest line delivered, in bytes; the rest of a longer line is discarded.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Bytes of lines buffered between the pipe readers and the sink, per process.
const QUEUE_BYTES: usize = 8 * 1024 * 1024;
/// Stderr lines kept for failure reasons.
const TAIL_LINES: usize = 50;
/// Read buffer per pipe.
const READ_BUFFER: usize = 64 * 1024;

/// Lines from one read of one pipe.
type Batch = (Stream, Vec<String>);

/// Per-process capture state shared with [`crate::Process`].
#[derive(Debug, Default)]
pub(crate) struct LogState {
    dropped: AtomicU64,
    /// Bytes of lines in the queue, not yet handed to the sink.
    queued: AtomicUsize,
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
    // unbounded in messages, bounded in bytes by `LogState::queued`
    let (tx, mut rx) = mpsc::unbounded_channel::<Batch>();
    let forwarded = state.clone();
    tokio::spawn(async move {
        while let Some((stream, lines)) = rx.recv().await {
            let bytes: usize = lines.iter().map(String::len).sum();
            for line in lines {
                sink(stream, line);
            }
            forwarded.queued.fetch_sub(bytes, Ordering::Relaxed);
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
    tx: mpsc::UnboundedSender<Batch>,
    state: Arc<LogState>,
) {
    let mut reader = BufReader::with_capacity(READ_BUFFER, pipe);
    let mut splitter = Splitter::default();
    loop {
        let buf = match reader.fill_buf().await {
            Ok(buf) => buf,
            Err(error) => {
                tracing::debug!(?stream, %error, "log pipe read failed");
                break;
            }
        };
        if buf.is_empty() {
            if !splitter.partial.is_empty() {
                splitter.end_line();
            }
            deliver(stream, std::mem::take(&mut splitter.lines), &tx, &state);
            break;
        }
        let used = buf.len();
        splitter.push(buf);
        reader.consume(used);
        deliver(stream, std::mem::take(&mut splitter.lines), &tx, &state);
    }
}

/// Splits bytes into capped, lossily decoded lines.
#[derive(Debug, Default)]
struct Splitter {
    /// The unfinished line.
    partial: Vec<u8>,
    /// True while discarding the rest of a line already delivered truncated.
    skipping: bool,
    /// Finished lines.
    lines: Vec<String>,
}

impl Splitter {
    fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let newline = bytes.iter().position(|&b| b == b'\n');
            let chunk = &bytes[..newline.unwrap_or(bytes.len())];
            bytes = &bytes[(chunk.len() + usize::from(newline.is_some())).min(bytes.len())..];
            if self.skipping {
                self.skipping = newline.is_none();
                continue;
            }
            let room = MAX_LINE_BYTES - self.partial.len();
            self.partial
                .extend_from_slice(&chunk[..chunk.len().min(room)]);
            if newline.is_some() {
                self.end_line();
            } else if self.partial.len() == MAX_LINE_BYTES {
                self.end_line();
                self.skipping = true;
            }
        }
    }

    /// Ends the current line (which may be empty).
    fn end_line(&mut self) {
        if self.partial.last() == Some(&b'\r') {
            self.partial.pop();
        }
        self.lines
            .push(String::from_utf8_lossy(&self.partial).into_owned());
        self.partial.clear();
    }
}

/// Queues one batch, or drops and counts it when the queue is full.
fn deliver(
    stream: Stream,
    lines: Vec<String>,
    tx: &mpsc::UnboundedSender<Batch>,
    state: &LogState,
) {
    if lines.is_empty() {
        return;
    }
    if stream == Stream::Stderr {
        for line in lines.iter().skip(lines.len().saturating_sub(TAIL_LINES)) {
            state.remember_stderr(line);
        }
    }
    let bytes: usize = lines.iter().map(String::len).sum();
    let count = lines.len() as u64;
    let queued = state.queued.fetch_add(bytes, Ordering::Relaxed);
    if queued + bytes > QUEUE_BYTES || tx.send((stream, lines)).is_err() {
        state.queued.fetch_sub(bytes, Ordering::Relaxed);
        state.dropped.fetch_add(count, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut splitter = Splitter::default();
        for chunk in chunks {
            splitter.push(chunk);
        }
        if !splitter.partial.is_empty() {
            splitter.end_line();
        }
        splitter.lines
    }

    #[test]
    fn splits_lines_across_reads() {
        assert_eq!(split(&[b"a\n\nb", b"c\r\n", b"d"]), ["a", "", "bc", "d"]);
        assert_eq!(split(&[b"\xffx\n"]), ["\u{FFFD}x"]);
    }

    #[test]
    fn caps_long_lines_whatever_the_read_boundaries() {
        let long = vec![b'a'; MAX_LINE_BYTES + 10];
        let capped = "a".repeat(MAX_LINE_BYTES);
        assert_eq!(split(&[&long, b"\nnext\n"]), [capped.as_str(), "next"]);
        assert_eq!(
            split(&[&long[..MAX_LINE_BYTES], b"\nnext"]),
            [capped.as_str(), "next"]
        );
        assert_eq!(
            split(&[&long[..100], &long[100..], b"x\ny"]),
            [capped.as_str(), "y"]
        );
    }
}
