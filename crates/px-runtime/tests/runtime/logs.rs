use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use px_runtime::{MAX_LINE_BYTES, Spawner, Stream, bounded_sink};

use super::{collecting_spec, eventually, sh, stdout_of};

const PRINT_LINES: &str = "import sys\nn = int(sys.argv[1])\nw = sys.stdout.write\nfor i in range(n):\n    w(f'line {i}\\n')\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_100k_lines_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spec, _) = collecting_spec("python3", &["-c", PRINT_LINES, "100000"], dir.path());
    let (sink, mut lines, sink_dropped) = bounded_sink(200_000);
    spec.log_sink = sink;

    let start = Instant::now();
    let process = Spawner::new().spawn(spec).await.unwrap();
    let mut received = 0u32;
    while let Some((stream, line)) = lines.recv().await {
        assert_eq!(stream, Stream::Stdout);
        assert_eq!(line, format!("line {received}"));
        received += 1;
        if received == 100_000 {
            break;
        }
    }
    let took = start.elapsed();
    let plugin_exited = process.exited().await;
    assert!(plugin_exited.success());
    assert_eq!(sink_dropped.load(Ordering::Relaxed), 0);
    assert_eq!(process.dropped_lines(), 0);
    let rate = 100_000.0 / took.as_secs_f64();
    println!("log capture: 100000 lines in {took:?} = {rate:.0} lines/s (spawn included)");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_consumer_never_blocks_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    // 24 MB of output: far more than any pipe or buffer holds
    let script = "import sys\nfor i in range(200000):\n    sys.stdout.write('x' * 120 + '\\n')\n";
    let (mut spec, _) = collecting_spec("python3", &["-c", script], dir.path());
    let (sink, _never_read, sink_dropped) = bounded_sink(16);
    spec.log_sink = sink;

    let start = Instant::now();
    let process = Spawner::new().spawn(spec).await.unwrap();
    assert!(process.exited().await.success());
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "plugin was blocked: {took:?}"
    );
    let dropped = sink_dropped.load(Ordering::Relaxed) + process.dropped_lines();
    assert_eq!(dropped, 200_000 - 16);
    println!("stuck consumer: plugin wrote 200000 lines and exited after {took:?}");
}

#[tokio::test]
async fn bounded_sink_counts_what_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spec, _) = sh("for i in $(seq 1 100); do echo $i; done", dir.path());
    let (sink, mut lines, dropped) = bounded_sink(4);
    spec.log_sink = sink;

    let process = Spawner::new().spawn(spec).await.unwrap();
    assert!(process.exited().await.success());
    assert!(
        eventually(Duration::from_secs(5), || dropped.load(Ordering::Relaxed)
            == 96)
        .await
    );
    assert_eq!(process.dropped_lines(), 0);
    let mut kept = Vec::new();
    while let Ok((_, line)) = lines.try_recv() {
        kept.push(line);
    }
    assert_eq!(kept, ["1", "2", "3", "4"]);
}

#[tokio::test]
async fn long_lines_are_capped_and_bad_utf8_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let script = "import sys\no = sys.stdout.buffer\no.write(b'a' * 40000 + b'\\nnext\\n')\no.write(b'\\xff\\xfeok\\r\\n')\no.write(b'b' * 16384 + b'\\nno newline at end')\n";
    let (spec, lines) = collecting_spec("python3", &["-c", script], dir.path());
    let process = Spawner::new().spawn(spec).await.unwrap();
    assert!(process.exited().await.success());

    let got = stdout_of(&lines);
    assert_eq!(
        got.len(),
        5,
        "{:?}",
        got.iter().map(String::len).collect::<Vec<_>>()
    );
    assert_eq!(got[0], "a".repeat(MAX_LINE_BYTES));
    assert_eq!(got[1], "next");
    assert_eq!(got[2], "\u{FFFD}\u{FFFD}ok");
    assert_eq!(got[3], "b".repeat(MAX_LINE_BYTES));
    assert_eq!(got[4], "no newline at end");
}

#[tokio::test]
async fn keeps_the_last_stderr_lines_for_failure_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, lines) = sh(
        "echo out; for i in $(seq 1 60); do echo err$i >&2; done; exit 2",
        dir.path(),
    );
    let process = Spawner::new().spawn(spec).await.unwrap();
    let status = process.exited().await;
    assert_eq!(status.code(), Some(2));
    assert_eq!(status.signal(), None);

    assert_eq!(process.last_stderr(3), ["err58", "err59", "err60"]);
    let tail = process.last_stderr(1000);
    assert_eq!(tail.len(), 50);
    assert_eq!(tail[0], "err11");
    assert!(eventually(Duration::from_secs(5), || lines.lock().unwrap().len() == 61).await);
    assert_eq!(lines.lock().unwrap()[0], (Stream::Stdout, "out".to_owned()));
}
