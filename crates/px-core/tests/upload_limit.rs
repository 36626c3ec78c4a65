//! `dev.max_bundle_bytes`: a `.pxp` upload over the limit is refused with 413
//! before its body is read to the end — at once when `Content-Length` says
//! so, and by the streaming cap when a chunked body has no length. Driven over
//! a raw TCP socket so the test sees exactly how much of the body Core took.

mod common;

use std::time::Duration;

use common::{Core, HELLO, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

/// The policy limit of these Cores.
const LIMIT: u64 = 1 << 20;
/// What the chunked upload would send if nothing stopped it.
const WOULD_SEND: u64 = 512 << 20;

/// Reads one HTTP/1.1 response with a `Content-Length`; `(status, body)`.
async fn read_response(mut read: OwnedReadHalf) -> (u16, serde_json::Value) {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = read.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response");
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("a content-length");
    while buffer.len() < head_end + length {
        let n = read.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed inside the body");
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buffer[head_end..head_end + length]).unwrap();
    (status, body)
}

fn request_head(core: &Core, framing: &str) -> String {
    let host = core.url.trim_start_matches("http://");
    format!(
        "POST /api/plugins/dev/install HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {}\r\n\
         content-type: {}\r\n{framing}\r\n",
        core.token,
        px_api::PXP_CONTENT_TYPE
    )
}

fn assert_too_large(status: u16, report: &serde_json::Value) {
    assert_eq!(status, 413, "{report}");
    assert_eq!(report["status"], "rejected", "{report}");
    let message = report["reason"]["message"].as_str().unwrap();
    assert!(
        // the wire cap ("larger than") or the unpacked one ("unpacks to more than")
        message.contains("larger than") || message.contains("more than"),
        "{message}"
    );
}

async fn core() -> Core {
    Core::start_with(Options {
        max_bundle_bytes: LIMIT,
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_any_body_byte() {
    let core = core().await;
    let stream = TcpStream::connect(core.url.trim_start_matches("http://"))
        .await
        .unwrap();
    let (read, mut write) = stream.into_split();
    let head = request_head(&core, &format!("content-length: {}\r\n", LIMIT * 100));
    write.write_all(head.as_bytes()).await.unwrap();
    // not one byte of the body is sent: the answer must come anyway
    let (status, report) = tokio::time::timeout(Duration::from_secs(10), read_response(read))
        .await
        .expect("Core waited for a body it was going to refuse");
    assert_too_large(status, &report);
    drop(write);
    assert_eq!(core.get(&format!("/api/plugins/{HELLO}")).await.0, 404);
}

/// Size of each data file in the stream.
const FILE_BYTES: usize = 128 << 10;
/// Distinct file contents: slices of a random pool larger than zstd's
/// window, so nothing compresses, yet only this many hashes to compute.
const DISTINCT: usize = 32;

/// A well-formed `.pxp` stream of [`WOULD_SEND`] bytes, produced as it is
/// sent: `manifest.json`, `.pxp/checksums.json` listing every file with its
/// real hash, then files of incompressible bytes.
struct StreamedBundle {
    tar: tar::Builder<zstd::Encoder<'static, Vec<u8>>>,
    pool: Vec<u8>,
    files: usize,
}

impl StreamedBundle {
    fn new() -> StreamedBundle {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let pool: Vec<u8> = (0..FILE_BYTES * DISTINCT)
            .map(|_| {
                // xorshift64
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let hash = |bytes: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        let dir = tempfile::tempdir().unwrap();
        common::write_plugin(dir.path(), HELLO, "1.0.0", |_| {});
        let manifest = std::fs::read(dir.path().join("manifest.json")).unwrap();
        let mut sums = std::collections::BTreeMap::new();
        sums.insert("manifest.json".to_owned(), hash(&manifest));
        let slices: Vec<String> = pool.chunks(FILE_BYTES).map(hash).collect();
        for file in 0..(WOULD_SEND as usize / FILE_BYTES) {
            sums.insert(data_path(file), slices[file % DISTINCT].clone());
        }
        let checksums = serde_json::to_vec_pretty(&sums).unwrap();
        let mut tar = tar::Builder::new(zstd::Encoder::new(Vec::new(), 1).unwrap());
        append(&mut tar, "manifest.json", &manifest);
        append(&mut tar, ".pxp/checksums.json", &checksums);
        StreamedBundle {
            tar,
            pool,
            files: 0,
        }
    }

    /// The next compressed bytes.
    fn next_chunk(&mut self) -> Vec<u8> {
        loop {
            let at = (self.files % DISTINCT) * FILE_BYTES;
            let data = self.pool[at..at + FILE_BYTES].to_vec();
            append(&mut self.tar, &data_path(self.files), &data);
            self.files += 1;
            let out = std::mem::take(self.tar.get_mut().get_mut());
            if !out.is_empty() {
                return out;
            }
        }
    }
}

fn data_path(file: usize) -> String {
    format!("data/{file}.bin")
}

fn append<W: std::io::Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, data).unwrap();
}

/// Sends `next_chunk()`s as a chunked `.pxp` upload until Core answers;
/// returns the answer and how many body bytes went out.
async fn upload_chunked(
    core: &Core,
    mut next_chunk: impl FnMut() -> Vec<u8>,
) -> (u16, serde_json::Value, u64) {
    let stream = TcpStream::connect(core.url.trim_start_matches("http://"))
        .await
        .unwrap();
    let (read, mut write) = stream.into_split();
    let head = request_head(core, "transfer-encoding: chunked\r\n");
    write.write_all(head.as_bytes()).await.unwrap();
    let mut answer = tokio::spawn(read_response(read));
    let mut sent = 0_u64;
    let answered = loop {
        let chunk = next_chunk();
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        tokio::select! {
            result = &mut answer => break Some(result.unwrap()),
            written = write.write_all(&frame) => {
                if written.is_err() {
                    break None; // Core closed the connection: the answer is waiting
                }
                sent += chunk.len() as u64;
                assert!(sent < WOULD_SEND, "Core read {sent} bytes without refusing");
            }
        }
    };
    let (status, report) = match answered {
        Some(answer) => answer,
        None => tokio::time::timeout(Duration::from_secs(10), answer)
            .await
            .expect("no answer after the connection closed")
            .unwrap(),
    };
    (status, report, sent)
}

/// What got through is the limit plus socket buffers, not the whole body.
fn assert_cut_off(sent: u64) {
    assert!(
        sent < 64 << 20,
        "{sent} bytes went out before the refusal (limit {LIMIT})"
    );
    println!("sent {sent} bytes of a chunked upload before the 413 (limit {LIMIT})");
}

#[tokio::test]
async fn a_chunked_upload_over_the_limit_is_cut_off_while_streaming() {
    let core = core().await;
    let mut bundle = StreamedBundle::new();
    let (status, report, sent) = upload_chunked(&core, || bundle.next_chunk()).await;
    assert_too_large(status, &report);
    assert_cut_off(sent);
    assert_eq!(core.get(&format!("/api/plugins/{HELLO}")).await.0, 404);
}

/// The wire cap on its own: after a zstd frame holding `manifest.json` and
/// its checksums, endless zstd *skippable* frames, which the decoder reads
/// and drops: nothing more is ever unpacked, only bytes keep coming.
#[tokio::test]
async fn the_wire_cap_stops_a_body_that_unpacks_to_nothing() {
    let core = core().await;
    let dir = tempfile::tempdir().unwrap();
    common::write_plugin(dir.path(), HELLO, "1.0.0", |_| {});
    let manifest = std::fs::read(dir.path().join("manifest.json")).unwrap();
    let sum = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&manifest));
    let checksums = serde_json::to_vec(&serde_json::json!({ "manifest.json": sum })).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    append(&mut tar, "manifest.json", &manifest);
    append(&mut tar, ".pxp/checksums.json", &checksums);
    // the archive so far, without its end-of-archive blocks
    let entries = tar.get_ref().clone();
    let mut first = Some(zstd::encode_all(entries.as_slice(), 1).unwrap());
    let skippable = {
        let payload = 64 << 10;
        let mut frame = 0x184D_2A50_u32.to_le_bytes().to_vec();
        frame.extend_from_slice(&(payload as u32).to_le_bytes());
        frame.resize(8 + payload, 0xAB);
        frame
    };
    let (status, report, sent) =
        upload_chunked(&core, || first.take().unwrap_or_else(|| skippable.clone())).await;
    assert_too_large(status, &report);
    let message = report["reason"]["message"].as_str().unwrap();
    assert!(message.contains("larger than"), "{message}");
    assert_cut_off(sent);
}
