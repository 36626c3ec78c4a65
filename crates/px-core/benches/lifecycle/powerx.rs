//! Core's share of an install of a real PowerX-shaped plugin: the
//! PluginBase-like project of `examples/powerx/` (plugin.yaml, a backend, a
//! Node admin server, a migration), installed from its directory, against the
//! bare run of the same migration and the bare start of its two processes
//! (together, each until healthy), paired in the same run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::common::{Core, Options};
use super::{load, p50_p95, quick};

const ID: &str = "com.example.powerx.base";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/powerx")
}

/// The base-like project copied into `work`, built, booting at once.
fn project(work: &Path) -> PathBuf {
    let dir = work.join("base-like");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(examples().join("base-like"))
        .arg(&dir)
        .status()
        .unwrap();
    assert!(copied.success());
    let built = Command::new(examples().join("build"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");
    let yaml = dir.join("plugin.yaml");
    let text = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(
        &yaml,
        text.replace("STANDIN_BOOT_MS: \"1500\"", "STANDIN_BOOT_MS: \"0\""),
    )
    .unwrap();
    // the stand-ins run on the interpreter itself, not through a version
    // manager's shim that would dominate both sides of the comparison
    let python = interpreter();
    for binary in ["plugin", "migrate"] {
        let path = dir.join("backend/bin").join(binary);
        let script = std::fs::read_to_string(&path).unwrap();
        let body = script.split_once('\n').map_or("", |(_, body)| body);
        std::fs::write(&path, format!("#!{python}\n{body}")).unwrap();
    }
    dir
}

/// The real `python3` behind whatever `PATH` finds first.
fn interpreter() -> String {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn set_version(dir: &Path, n: usize) {
    let yaml = dir.join("plugin.yaml");
    let text = std::fs::read_to_string(&yaml).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("version: "))
        .unwrap()
        .to_owned();
    std::fs::write(&yaml, text.replace(&line, &format!("version: 0.7.{n}"))).unwrap();
}

/// What the bare run gives each process: its port and what it needs to serve.
fn env(port: u16, data: &Path) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for name in ["PATH", "HOME"] {
        env.insert(name.to_owned(), std::env::var(name).unwrap_or_default());
    }
    env.insert("PORT".to_owned(), port.to_string());
    env.insert("POWERX_PLUGIN_ID".to_owned(), ID.to_owned());
    env.insert(
        "POWERX_PLUGIN_DATA_DIR".to_owned(),
        data.display().to_string(),
    );
    env.insert("POWERX_ADMIN_BASE".to_owned(), format!("/_p/{ID}/admin/"));
    env
}

/// The bare run's times in ms: the migration, then both processes started
/// together until both are healthy.
struct Bare {
    migrate: f64,
    start: f64,
}

/// The migration, then both processes started together until both are healthy.
async fn bare_start(spawner: &px_runtime::Spawner, dir: &Path, data: &Path) -> Bare {
    let started = Instant::now();
    let migrated = tokio::process::Command::new(dir.join("backend/bin/migrate"))
        .arg("setup")
        .current_dir(dir.join("backend"))
        .env_clear()
        .envs(env(0, data))
        .output()
        .await
        .unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let migrate = started.elapsed().as_secs_f64() * 1000.0;
    let processes = [
        ("backend/bin/plugin", vec![], "/healthz".to_owned()),
        (
            "node",
            vec!["./web-admin/.output/server/index.mjs".to_owned()],
            format!("/_p/{ID}/admin/"),
        ),
    ];
    let starts = processes
        .into_iter()
        .map(|(program, args, health)| async move {
            let port = px_runtime::pick_port().unwrap();
            let program = if program.contains('/') {
                dir.join(program).display().to_string()
            } else {
                program.to_owned()
            };
            let process = spawner
                .spawn(px_runtime::SpawnSpec {
                    program,
                    args,
                    cwd: dir.to_owned(),
                    env: env(port, data),
                    log_sink: Arc::new(|_, _| {}),
                })
                .await
                .unwrap();
            let outcome = px_runtime::wait_healthy(
                port,
                &health,
                Duration::from_secs(10),
                Duration::from_secs(2),
                &process,
            )
            .await;
            assert!(
                matches!(outcome, px_runtime::HealthOutcome::Healthy(_)),
                "{outcome:?}"
            );
            process
        });
    let processes = futures_util::future::join_all(starts).await;
    let start = started.elapsed().as_secs_f64() * 1000.0 - migrate;
    for process in processes {
        process.stop(Duration::from_secs(2)).await;
    }
    Bare { migrate, start }
}

/// Installs (hot reloads) of the base-like project, each paired with a bare
/// start right before or after it (alternating).
pub(super) async fn share() {
    let runs = if quick() { 3 } else { 30 };
    let core = Core::start_with(Options {
        probation_ms: 0,
        health_timeout_ms: 10_000,
        max_bundle_bytes: 64 << 20,
    })
    .await;
    let spawner = px_runtime::Spawner::new();
    let dir = project(core.work.path());
    let data = tempfile::tempdir().unwrap();
    let (mut shares, mut bares, mut totals) = (vec![], vec![], vec![]);
    let (mut bare_migrates, mut bare_starts) = (vec![], vec![]);
    let mut phases: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for n in 0..=runs {
        set_version(&dir, n);
        let bare_first = n % 2 == 0;
        let mut bare = Bare {
            migrate: 0.0,
            start: 0.0,
        };
        if bare_first {
            bare = bare_start(&spawner, &dir, data.path()).await;
        }
        let (status, report) = core.install_dir(&dir).await;
        assert_eq!(status, 200, "{report:?}");
        if !bare_first {
            bare = bare_start(&spawner, &dir, data.path()).await;
        }
        // one unmeasured round warms up caches (page cache, interpreter, pools)
        if n == 0 {
            continue;
        }
        for phase in &report.phases {
            let entry = phases.entry(phase.name.as_str().to_owned()).or_default();
            entry.push(phase.ms as f64);
        }
        let total = report.duration_ms as f64;
        let whole = bare.migrate + bare.start;
        bare_migrates.push(bare.migrate);
        bare_starts.push(bare.start);
        bares.push(whole);
        totals.push(total);
        shares.push(total - whole);
    }
    println!(
        "core share of a PowerX plugin install (base-like: migration + backend + Node admin, {runs} reloads from its directory, probation 0, each paired with a bare run; load average {}):",
        load()
    );
    println!("  report duration_ms       {}", p50_p95(&mut totals));
    println!("  bare migrate+start       {}", p50_p95(&mut bares));
    println!("    bare migrate           {}", p50_p95(&mut bare_migrates));
    println!("    bare start+health      {}", p50_p95(&mut bare_starts));
    println!(
        "  duration - paired bare   {}   (goal p50 <= 25)",
        p50_p95(&mut shares)
    );
    let line: Vec<String> = phases
        .iter_mut()
        .map(|(name, values)| {
            values.sort_by(f64::total_cmp);
            format!("{name} {:.0}", super::percentile(values, 0.5))
        })
        .collect();
    println!("  phase p50 (ms)           {}", line.join("  "));
}
