use std::time::{Duration, Instant};

use px_runtime::{
    DEFAULT_PROBE_TIMEOUT, HealthOutcome, RuntimeError, Spawner, pick_port, probe_health,
    wait_healthy,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{collecting_spec, sh};

/// Answers `/healthz` with `$HEALTH_STATUS` (default 200), anything else with 404.
const SERVER: &str = r#"
import http.server, os
status = int(os.environ.get("HEALTH_STATUS", "200"))
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

fn server(dir: &std::path::Path, port: u16, status: u16) -> px_runtime::SpawnSpec {
    let (mut spec, _) = collecting_spec("python3", &["-c", SERVER], dir);
    spec.env.insert("PORT".into(), port.to_string());
    spec.env.insert("HEALTH_STATUS".into(), status.to_string());
    spec
}

#[tokio::test]
async fn healthy_plugin_is_detected_fast() {
    let dir = tempfile::tempdir().unwrap();
    let port = pick_port().unwrap();
    let spawned = Instant::now();
    let process = Spawner::new()
        .spawn(server(dir.path(), port, 200))
        .await
        .unwrap();

    let outcome = wait_healthy(
        port,
        "/healthz",
        Duration::from_secs(10),
        DEFAULT_PROBE_TIMEOUT,
        &process,
    )
    .await;
    let HealthOutcome::Healthy(waited) = outcome else {
        panic!("{outcome:?}")
    };
    println!(
        "python http.server healthy {waited:?} after polling began ({:?} after spawn)",
        spawned.elapsed()
    );
    assert_eq!(
        probe_health(port, "/healthz", DEFAULT_PROBE_TIMEOUT)
            .await
            .unwrap(),
        200
    );
    assert_eq!(
        probe_health(port, "/other", DEFAULT_PROBE_TIMEOUT)
            .await
            .unwrap(),
        404
    );

    // polling a healthy plugin costs about one request
    let start = Instant::now();
    let again = wait_healthy(
        port,
        "/healthz",
        Duration::from_secs(1),
        DEFAULT_PROBE_TIMEOUT,
        &process,
    )
    .await;
    assert!(matches!(again, HealthOutcome::Healthy(_)), "{again:?}");
    println!("one health probe of a live plugin: {:?}", start.elapsed());

    process.stop(Duration::from_secs(5)).await;
    let error = probe_health(port, "/healthz", DEFAULT_PROBE_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(error, RuntimeError::Probe { .. }), "{error:?}");
}

#[tokio::test]
async fn never_listening_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _) = sh("exec sleep 30", dir.path());
    let process = Spawner::new().spawn(spec).await.unwrap();
    let port = pick_port().unwrap();

    let start = Instant::now();
    let outcome = wait_healthy(
        port,
        "/healthz",
        Duration::from_millis(300),
        DEFAULT_PROBE_TIMEOUT,
        &process,
    )
    .await;
    assert_eq!(outcome, HealthOutcome::TimedOut { last_status: None });
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    process.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn unhealthy_answers_time_out_with_the_last_status() {
    let dir = tempfile::tempdir().unwrap();
    let port = pick_port().unwrap();
    let process = Spawner::new()
        .spawn(server(dir.path(), port, 500))
        .await
        .unwrap();

    let outcome = wait_healthy(
        port,
        "/healthz",
        Duration::from_secs(3),
        DEFAULT_PROBE_TIMEOUT,
        &process,
    )
    .await;
    assert_eq!(
        outcome,
        HealthOutcome::TimedOut {
            last_status: Some(500)
        }
    );
    process.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn exiting_plugin_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _) = sh("echo boom >&2; sleep 0.1; exit 7", dir.path());
    let process = Spawner::new().spawn(spec).await.unwrap();
    let port = pick_port().unwrap();

    let start = Instant::now();
    let outcome = wait_healthy(
        port,
        "/healthz",
        Duration::from_secs(30),
        DEFAULT_PROBE_TIMEOUT,
        &process,
    )
    .await;
    let HealthOutcome::Exited(status) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(status.code(), Some(7));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(process.last_stderr(5), ["boom"]);
}

/// A listener on a free port that accepts every connection; the first
/// `hang` of them are held open unanswered, the others get `200`.
async fn hanging_then_healthy(hang: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            if held.len() < hang {
                held.push(stream);
                continue;
            }
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_hanging_probe_is_given_up_after_the_probe_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _) = sh("exec sleep 30", dir.path());
    let process = Spawner::new().spawn(spec).await.unwrap();
    let port = hanging_then_healthy(1).await;

    // the first probe hangs: the second one, 200 ms later, answers
    let start = Instant::now();
    let outcome = wait_healthy(
        port,
        "/healthz",
        Duration::from_secs(30),
        Duration::from_millis(200),
        &process,
    )
    .await;
    let took = start.elapsed();
    assert!(matches!(outcome, HealthOutcome::Healthy(_)), "{outcome:?}");
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "{took:?}"
    );

    // a single probe that hangs fails at its own timeout
    let port = hanging_then_healthy(usize::MAX).await;
    let start = Instant::now();
    let error = probe_health(port, "/healthz", Duration::from_millis(150))
        .await
        .unwrap_err();
    assert!(matches!(error, RuntimeError::Probe { .. }), "{error:?}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(1),
        "{took:?}"
    );
    process.stop(Duration::from_secs(1)).await;
}
