//! A tiny, fast plugin process for benchmarks: a std-only HTTP/1.1 server
//! with keep-alive, one thread per connection, that answers every `GET` or
//! `POST` with a small JSON body (`/healthz` included). It starts in about a
//! millisecond and serves tens of thousands of requests per second, so what a
//! benchmark measures around it is Core, not the plugin.
//!
//! `cargo run --release -p px-core --example fastplugin` (listens on `$PORT`).
//! The benchmarks include this file as a module and run it from their own
//! binary (see `benches/proxy.rs`), so nothing extra has to be built.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

/// The JSON every request gets.
const BODY: &str = r#"{"ok":true,"message":"hello"}"#;
/// Longest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Serves on 127.0.0.1:`port` until the process is killed.
pub fn serve(port: u16) -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || {
            let _ = connection(stream);
        });
    }
    Ok(())
}

/// Answers requests on one connection until the peer closes it.
fn connection(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(8 * 1024, stream);
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut line = String::new();
    loop {
        let mut content_length = 0u64;
        let mut close = false;
        let mut head = 0;
        // request line and headers
        loop {
            line.clear();
            let n = reader.read_line(&mut line)?;
            if n == 0 {
                return Ok(());
            }
            head += n;
            if head > MAX_HEAD {
                return Ok(());
            }
            let text = line.trim_end();
            if text.is_empty() {
                break;
            }
            if let Some((name, value)) = text.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        io::copy(&mut (&mut reader).take(content_length), &mut io::sink())?;
        writer.write_all(response.as_bytes())?;
        if close {
            return Ok(());
        }
    }
}

#[allow(dead_code)]
fn main() -> io::Result<()> {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other("PORT is not set"))?;
    serve(port)
}
