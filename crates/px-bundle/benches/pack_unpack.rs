//! Pack and unpack throughput on a generated `dist/` of mixed content.
//!
//! `cargo bench -p px-bundle` builds ~100 MB in a few thousand files (half
//! text-like and compressible, half random) and prints MB/s (10^6 bytes per
//! second of file content) for `pack` and `unpack`. `PX_BENCH_MB=2` makes it a
//! quick smoke test.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use px_bundle::{Limits, digest_dir, pack, unpack};

const RUNS: usize = 3;

fn main() {
    let megabytes: u64 = std::env::var("PX_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let work = tempfile::tempdir().expect("temp dir");
    let dist = work.path().join("dist");
    let (files, bytes) = generate(&dist, megabytes * 1_000_000);
    println!("dist: {files} files, {:.1} MB", bytes as f64 / 1e6);

    let bundle = work.path().join("bench.pxp");
    let mut pack_times = Vec::new();
    let mut digest = String::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let mut out = BufWriter::new(File::create(&bundle).expect("create bundle"));
        let summary = pack(&dist, &mut out).expect("pack");
        out.flush().expect("flush");
        pack_times.push(start.elapsed().as_secs_f64());
        assert_eq!(summary.bytes, bytes);
        digest = summary.digest;
    }
    let packed_len = fs::metadata(&bundle).expect("bundle").len();
    println!(
        "bundle: {:.1} MB ({:.2} of the content)",
        packed_len as f64 / 1e6,
        packed_len as f64 / bytes as f64
    );

    let start = Instant::now();
    assert_eq!(digest_dir(&dist).expect("digest").digest, digest);
    println!(
        "digest_dir: {:.0} MB/s",
        bytes as f64 / 1e6 / start.elapsed().as_secs_f64()
    );

    let limits = Limits {
        max_total_bytes: u64::MAX,
        max_file_bytes: u64::MAX,
        ..Limits::default()
    };
    let mut unpack_times = Vec::new();
    for run in 0..RUNS {
        let staging = work.path().join(format!("staging-{run}"));
        fs::create_dir(&staging).expect("staging");
        let start = Instant::now();
        let mut input = BufReader::new(File::open(&bundle).expect("open bundle"));
        let summary = unpack(&mut input, &staging, &limits).expect("unpack");
        unpack_times.push(start.elapsed().as_secs_f64());
        assert_eq!(summary.digest, digest);
        fs::remove_dir_all(&staging).expect("clean staging");
    }

    report("pack", bytes, &pack_times);
    report("unpack", bytes, &unpack_times);
}

/// Prints the best run's throughput (and all runs).
fn report(what: &str, bytes: u64, times: &[f64]) {
    let rates: Vec<String> = times
        .iter()
        .map(|t| format!("{:.0}", bytes as f64 / 1e6 / t))
        .collect();
    let best = times.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "{what}: {:.0} MB/s (runs: {} MB/s)",
        bytes as f64 / 1e6 / best,
        rates.join(", ")
    );
}

/// Writes files of 1–64 KiB until `target` bytes, spread over nested
/// directories; every other file is random, the rest text-like.
fn generate(dist: &Path, target: u64) -> (u64, u64) {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    fs::create_dir_all(dist).expect("dist");
    fs::write(
        dist.join("manifest.json"),
        br#"{"manifest_version":1,"id":"com.example.bench"}"#,
    )
    .expect("manifest");
    let (mut files, mut bytes) = (1, 47);
    let words = [
        "plugin", "powerx", "admin", "static", "route", "health", "config", "menu", "{", "}", ";",
        "\n",
    ];
    while bytes < target {
        let len = (1024 + rng.next() % (63 * 1024)).min(target - bytes + 1) as usize;
        let mut data = Vec::with_capacity(len);
        if files % 2 == 0 {
            while data.len() < len {
                data.extend_from_slice(&rng.next().to_le_bytes());
            }
        } else {
            while data.len() < len {
                data.extend_from_slice(
                    words[(rng.next() % words.len() as u64) as usize].as_bytes(),
                );
                data.push(b' ');
            }
        }
        data.truncate(len);
        let path = dist.join(format!("d{}/s{}/f{files}.dat", files % 40, files % 7));
        fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        fs::write(&path, &data).expect("write");
        if files % 50 == 0 {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        files += 1;
        bytes += len as u64;
    }
    (files, bytes)
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
