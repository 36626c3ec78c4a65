//! Health polling over a minimal HTTP/1.1 client, and port picking.
//!
//! The client sends one `GET` with `Connection: close` and reads only the
//! status line: that is all health needs, and it keeps Core's share of a
//! plugin's start time to a few milliseconds.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout};

use crate::{HealthOutcome, Process, RuntimeError};

/// Time allowed for one probe (connect, send, status line) when the plugin
/// does not say.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// First pause between attempts; doubles up to [`MAX_INTERVAL`].
const FIRST_INTERVAL: Duration = Duration::from_millis(2);
/// Longest pause between attempts.
const MAX_INTERVAL: Duration = Duration::from_millis(10);
/// Longest status line accepted.
const MAX_STATUS_LINE: usize = 1024;

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn pick_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// One `GET http://127.0.0.1:{port}{path}`; returns the HTTP status code,
/// whatever it is. Gives up after `probe_timeout`.
pub async fn probe_health(
    port: u16,
    path: &str,
    probe_timeout: Duration,
) -> Result<u16, RuntimeError> {
    probe(port, path, probe_timeout).await
}

/// Polls `GET http://127.0.0.1:{port}{path}` until it answers 2xx, the
/// process exits, or `limit` (the startup deadline) has passed. Each probe
/// may take `probe_timeout` (never past the deadline): one that hangs is
/// given up and the next one sent. The first attempt is immediate, then
/// pauses start at 2 ms and double up to 10 ms, so polling adds about
/// 5 ms on average to a plugin's own start time (a refused connect costs
/// tens of microseconds).
pub async fn wait_healthy(
    port: u16,
    path: &str,
    limit: Duration,
    probe_timeout: Duration,
    process: &Process,
) -> HealthOutcome {
    let start = Instant::now();
    let deadline = start + limit;
    let mut interval = FIRST_INTERVAL;
    let mut last_status = None;
    loop {
        if let Some(status) = process.exit_status() {
            return HealthOutcome::Exited(status);
        }
        let now = Instant::now();
        if now >= deadline {
            return HealthOutcome::TimedOut { last_status };
        }
        tokio::select! {
            status = process.exited() => return HealthOutcome::Exited(status),
            answer = probe(port, path, (deadline - now).min(probe_timeout)) => match answer {
                Ok(code) if (200..300).contains(&code) => {
                    return HealthOutcome::Healthy(start.elapsed());
                }
                Ok(code) => last_status = Some(code),
                Err(_) => {}
            },
        }
        tokio::select! {
            status = process.exited() => return HealthOutcome::Exited(status),
            () = sleep_until((Instant::now() + interval).min(deadline)) => {}
        }
        interval = (interval * 2).min(MAX_INTERVAL);
    }
}

async fn probe(port: u16, path: &str, limit: Duration) -> Result<u16, RuntimeError> {
    let failed = |source| RuntimeError::Probe { port, source };
    match timeout(limit, exchange(port, path)).await {
        Ok(Ok(Some(code))) => Ok(code),
        Ok(Ok(None)) => Err(RuntimeError::BadResponse { port }),
        Ok(Err(error)) => Err(failed(error)),
        Err(_) => Err(failed(io::Error::new(
            io::ErrorKind::TimedOut,
            "no status line in time",
        ))),
    }
}

/// Sends the request and reads up to the end of the status line.
async fn exchange(port: u16, path: &str) -> io::Result<Option<u16>> {
    let mut stream = TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    stream.set_nodelay(true)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: px-runtime\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(128);
    let mut buf = [0u8; 512];
    loop {
        if let Some(end) = head.windows(2).position(|w| w == b"\r\n") {
            return Ok(parse_status_line(&head[..end]));
        }
        if head.len() > MAX_STATUS_LINE {
            return Ok(None);
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
    }
}

/// `HTTP/1.x NNN reason` → `NNN`.
fn parse_status_line(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|code| (100..600).contains(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), Some(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable"),
            Some(503)
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 204"), Some(204));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 99999 x"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 abc x"), None);
    }

    #[test]
    fn picks_a_bindable_port() {
        let port = pick_port().unwrap();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }
}
