//! `powerx users add|list|remove` and `powerx tokens create|list|revoke` on a
//! data directory, while a real `powerx serve` runs on it: the token printed
//! alone on stdout works against Core, its use shows in `tokens list`, and a
//! revoked token answers 401.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

/// Runs `powerx <args> --data-dir <data>` with `stdin` fed in.
fn powerx(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_powerx"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("PX_DATA_DIR")
        .env_remove("PX_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn me(url: &str, token: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(format!("{url}/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn users_and_tokens_are_managed_from_the_command_line_while_core_runs() {
    let data = tempfile::tempdir().unwrap();
    let core = common::serve(data.path(), &[]);

    // users add, with a password from stdin
    let out = powerx(
        data.path(),
        &[
            "users",
            "add",
            "alice",
            "--role",
            "plugin-developer",
            "--password-stdin",
        ],
        Some("correct horse battery\n"),
    );
    assert_eq!(ok(&out), "", "nothing on stdout");
    assert!(stderr(&out).contains("alice"), "{}", stderr(&out));
    let out = powerx(
        data.path(),
        &["users", "add", "victor", "--role", "viewer"],
        None,
    );
    ok(&out);
    let empty = powerx(
        data.path(),
        &[
            "users",
            "add",
            "eve",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("\n"),
    );
    assert!(!empty.status.success(), "an empty password is refused");
    let list = ok(&powerx(data.path(), &["users", "list"], None));
    let users: Vec<&str> = list.lines().collect();
    assert!(users.contains(&"alice\tplugin-developer"), "{list}");
    assert!(users.contains(&"victor\tviewer"), "{list}");
    assert!(
        users.contains(&"admin\tadmin"),
        "first start made admin: {list}"
    );
    assert!(!users.iter().any(|u| u.starts_with("eve\t")), "{list}");

    // the password works against the running Core
    let login = reqwest::Client::new()
        .post(format!("{}/api/login", core.url))
        .json(&serde_json::json!({"name": "alice", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);

    // users passwd: the new password works, the old one no longer does
    let login = |password: &'static str| {
        let url = format!("{}/api/login", core.url);
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&serde_json::json!({"name": "alice", "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let out = powerx(
        data.path(),
        &["users", "passwd", "alice"],
        Some("tr0ubador\n"),
    );
    assert!(stderr(&out).contains("alice"), "{}", stderr(&out));
    ok(&out);
    assert_eq!(login("tr0ubador").await, 200);
    assert_eq!(login("correct horse battery").await, 401);
    let nobody = powerx(data.path(), &["users", "passwd", "nobody"], Some("x\n"));
    assert!(!nobody.status.success());
    assert!(
        stderr(&nobody).contains("no user named"),
        "{}",
        stderr(&nobody)
    );

    // tokens create: the token alone on stdout, the note on stderr
    let out = powerx(
        data.path(),
        &["tokens", "create", "--user", "alice", "--name", "laptop"],
        None,
    );
    let stdout = ok(&out);
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    let token = stdout.trim_end_matches('\n');
    assert!(token.starts_with("pxt_") && !token.contains(char::is_whitespace));
    assert!(
        !stderr(&out).contains(token),
        "the secret is shown once, on stdout"
    );
    assert!(stderr(&out).contains("laptop"));

    let list = ok(&powerx(
        data.path(),
        &["tokens", "list", "--user", "alice"],
        None,
    ));
    assert_eq!(list.lines().count(), 1, "{list}");
    let columns: Vec<&str> = list.trim_end().split('\t').collect();
    assert_eq!(&columns[1..4], ["alice", "laptop", "active"], "{list}");
    assert!(columns[4].starts_with("created 20"), "{list}");
    assert_eq!(columns[5], "never used", "{list}");
    assert!(!list.contains(token), "tokens list never shows secrets");
    let id = columns[0].to_owned();

    // the token works against the running Core, and its use is recorded
    let (status, body) = me(&core.url, token).await;
    assert_eq!(status, 200);
    assert_eq!(body["actor"], "alice");
    assert!(
        body["permissions"]
            .as_array()
            .unwrap()
            .contains(&"plugin:dev".into())
    );
    let list = ok(&powerx(
        data.path(),
        &["tokens", "list", "--user", "alice"],
        None,
    ));
    assert!(list.contains("\tlast used 20"), "{list}");

    // revoked: 401 at once, listed as revoked, cannot be revoked twice
    let out = powerx(data.path(), &["tokens", "revoke", &id], None);
    ok(&out);
    let (status, _) = me(&core.url, token).await;
    assert_eq!(status, 401);
    let list = ok(&powerx(
        data.path(),
        &["tokens", "list", "--user", "alice"],
        None,
    ));
    assert!(list.contains("\trevoked\t"), "{list}");
    let again = powerx(data.path(), &["tokens", "revoke", &id], None);
    assert!(!again.status.success());

    // no token for somebody who does not exist, and nothing on stdout
    let out = powerx(data.path(), &["tokens", "create", "--user", "nobody"], None);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());

    // users remove takes the user's tokens with it
    let out = powerx(data.path(), &["tokens", "create", "--user", "victor"], None);
    let victor = ok(&out).trim().to_owned();
    assert_eq!(me(&core.url, &victor).await.0, 200);
    ok(&powerx(data.path(), &["users", "remove", "victor"], None));
    assert_eq!(me(&core.url, &victor).await.0, 401);
    let list = ok(&powerx(data.path(), &["users", "list"], None));
    assert!(!list.lines().any(|u| u.starts_with("victor\t")), "{list}");
    let missing = powerx(data.path(), &["users", "remove", "victor"], None);
    assert!(!missing.status.success());
}
