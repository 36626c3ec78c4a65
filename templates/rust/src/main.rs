//! A PowerX plugin in Rust, standard library only: a tiny HTTP/1.1 server.
//!
//! Core starts the binary with `PORT` set (and `PX_PLUGIN_ID`, `PX_PLUGIN_VERSION`,
//! `PX_PLUGIN_BASE_PATH`, ...) and proxies `/_p/<id>/api/<path>` to
//! `http://127.0.0.1:$PORT/<path>`, so `/hello` answers `GET /_p/<id>/api/hello`.
//! Each request is logged as one line on stdout, which Core shows as the plugin's log.
//! Core stops the plugin with SIGTERM; the default action ends the process, which is
//! all this server needs (it keeps no state).
//!
//! Run it by hand: `PORT=8080 cargo run`, then `curl localhost:8080/hello`.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

const PLUGIN_ID: &str = "{{id}}";

fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_owned());
    let id = std::env::var("PX_PLUGIN_ID").unwrap_or_else(|_| PLUGIN_ID.to_owned());
    let version = std::env::var("PX_PLUGIN_VERSION").unwrap_or_else(|_| env!("CARGO_PKG_VERSION").to_owned());
    let listener = TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap_or(8080)))?;
    println!("{id} {version} listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(err) => {
                eprintln!("accept failed: {err}");
                continue;
            }
        };
        let (id, version) = (id.clone(), version.clone());
        std::thread::spawn(move || {
            match handle(stream, &id, &version) {
                // the client went away (e.g. a health probe that gave up): nothing to report
                Err(err) if matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {}
                Err(err) => eprintln!("request failed: {err}"),
                Ok(()) => {}
            }
        });
    }
    Ok(())
}

fn handle(stream: TcpStream, id: &str, version: &str) -> std::io::Result<()> {
    let started = Instant::now();
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(()); // connected and closed without a request
    }
    // Skip the headers; this plugin reads no request body.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("");
    let path = target.split('?').next().unwrap_or("");

    let (status, body) = match (method, path) {
        ("GET", "/healthz") => ("200 OK", r#"{"status":"ok"}"#.to_owned()),
        ("GET", "/hello") => ("200 OK", format!(r#"{{"message":"hello from {id}","version":"{version}"}}"#)),
        _ => ("404 Not Found", format!(r#"{{"error":{{"code":"not_found","message":"no route for {method} {path}"}}}}"#)),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    let code = &status[..3];
    println!("{method} {target} {code} {:.1}ms", started.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}
