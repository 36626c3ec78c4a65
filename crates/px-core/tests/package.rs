//! The PowerX package format by upload: a gzip tar whose top folder
//! `payload/` holds `plugin.yaml` and the built files, sent as
//! `application/gzip` (or `application/x-gzip`), goes live; a hostile one is
//! refused with a 4xx and the reason; one sent as a `.pxp` is told which
//! content type to use.

mod common;

use std::io::Write as _;
use std::time::Duration;

use common::{Core, example_dir};
use flate2::Compression;
use flate2::write::GzEncoder;
use px_api::{InstallReport, InstallStatus, ReasonCode};
use tar::{EntryType, Header};

const ID: &str = "com.example.package";

/// One tar entry: raw path, type, content, link target.
type Entry<'a> = (&'a str, EntryType, &'a [u8], &'a str);

fn plugin_yaml(version: &str) -> String {
    format!(
        "id: {ID}\nname: Package\nversion: {version}\n\
         runtime:\n  kind: process\n  entry: python3\n  args: [\"-u\", \"server.py\"]\n\
         \x20 health:\n    http: /healthz\n\
         endpoints:\n  http_base_path: /\n"
    )
}

/// A gzip tar of `entries` (raw paths, no checks) as PowerX's tools write
/// it: a `.` directory first.
fn package(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let root = ("./", EntryType::Directory, &b""[..], "");
    let all = std::iter::once(&root).chain(entries);
    for (path, kind, data, link) in all {
        let mut header = Header::new_gnu();
        let old = header.as_old_mut();
        old.name[..path.len()].copy_from_slice(path.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        tar.append(&header, *data).unwrap();
    }
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn hello_package(version: &str) -> Vec<u8> {
    let server = std::fs::read(example_dir().join("server.py")).unwrap();
    let yaml = plugin_yaml(version);
    package(&[
        ("payload/", EntryType::Directory, b"", ""),
        (
            "payload/plugin.yaml",
            EntryType::Regular,
            yaml.as_bytes(),
            "",
        ),
        ("payload/server.py", EntryType::Regular, &server, ""),
    ])
}

async fn upload(core: &Core, content_type: &str, bytes: Vec<u8>) -> (u16, InstallReport) {
    let response = core
        .authed(
            core.client
                .post(format!("{}/api/plugins/dev/install", core.url)),
        )
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let report = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not a report ({status}): {e}: {text}"));
    (status, report)
}

#[tokio::test]
async fn a_powerx_package_upload_goes_live() {
    let core = Core::start().await;
    let (status, report) = upload(&core, "application/gzip", hello_package("0.1.0")).await;
    assert_eq!(status, 200, "{report:?}");
    assert_eq!(report.status, InstallStatus::Active);
    assert_eq!(report.plugin_id, ID);
    let body = core.wait_serving(ID, Duration::from_secs(10)).await;
    assert_eq!(body["version"], "0.1.0", "{body}");

    // the older spelling, with a parameter, is a package too
    let (status, report) = upload(
        &core,
        "application/x-gzip; charset=binary",
        hello_package("0.2.0"),
    )
    .await;
    assert_eq!(status, 200, "{report:?}");
    assert_eq!(report.revision, Some(2));
    let (_, body) = core.proxy(ID, "/hello").await;
    assert_eq!(body["version"], "0.2.0", "{body}");
}

#[tokio::test]
async fn a_hostile_package_is_refused_with_the_reason() {
    let core = Core::start().await;
    let yaml = plugin_yaml("0.1.0");
    let cases: [(&[Entry<'_>], &str); 4] = [
        (
            &[
                (
                    "payload/plugin.yaml",
                    EntryType::Regular,
                    yaml.as_bytes(),
                    "",
                ),
                ("payload/../../escaped", EntryType::Regular, b"x", ""),
            ],
            "has a `..` component",
        ),
        (
            &[
                (
                    "payload/plugin.yaml",
                    EntryType::Regular,
                    yaml.as_bytes(),
                    "",
                ),
                ("payload/out", EntryType::Symlink, b"", "../../.."),
            ],
            "leaves the bundle",
        ),
        (
            &[
                (
                    "payload/plugin.yaml",
                    EntryType::Regular,
                    yaml.as_bytes(),
                    "",
                ),
                ("payload/tty", EntryType::Char, b"", ""),
            ],
            "is a device file",
        ),
        (
            &[("payload/server.py", EntryType::Regular, b"print()", "")],
            "no plugin.yaml",
        ),
    ];
    for (entries, reason) in cases {
        let (status, report) = upload(&core, "application/gzip", package(entries)).await;
        assert_eq!(status, 422, "{reason}: {report:?}");
        assert_eq!(report.status, InstallStatus::Rejected);
        let why = report.reason.expect("a reason");
        assert_eq!(why.code, ReasonCode::BundleInvalid);
        assert!(why.message.contains(reason), "{reason}: {}", why.message);
    }
    assert!(!core.work.path().join("escaped").exists());
    assert!(!core.data.path().join("escaped").exists());
    let (status, _) = core.get(&format!("/api/plugins/{ID}")).await;
    assert_eq!(status, 404, "nothing was installed");
}

#[tokio::test]
async fn each_format_sent_as_the_other_names_the_content_type_to_use() {
    let core = Core::start().await;
    let (status, report) = core.install_pxp(hello_package("0.1.0")).await;
    assert_eq!(status, 422, "{report:?}");
    let why = report.reason.expect("a reason");
    assert_eq!(why.code, ReasonCode::BundleInvalid);
    assert!(
        why.message
            .contains("is a PowerX package (gzip tar), not a .pxp (zstd tar): send it with Content-Type: application/gzip"),
        "{}",
        why.message
    );

    let dir = core.plugin("hello", common::HELLO, "0.1.0", |_| {});
    let (status, report) = upload(&core, "application/gzip", common::pack(&dir)).await;
    assert_eq!(status, 422, "{report:?}");
    let message = report.reason.expect("a reason").message;
    assert!(
        message.contains("Content-Type: application/vnd.powerx.pxp"),
        "{message}"
    );
}

#[tokio::test]
async fn a_plugin_yaml_directory_installs_as_it_is() {
    // the staged tree has plugin.yaml and no manifest.json: its digest (and
    // a shared Core's .pxp of it) take plugin.yaml as the descriptor
    let core = Core::start().await;
    let dir = core.work.path().join("as-is");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plugin.yaml"), plugin_yaml("0.3.0")).unwrap();
    std::fs::copy(example_dir().join("server.py"), dir.join("server.py")).unwrap();
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    let body = core.wait_serving(ID, Duration::from_secs(10)).await;
    assert_eq!(body["version"], "0.3.0", "{body}");
}
