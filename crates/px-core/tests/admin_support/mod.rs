//! Driving Debian's headless Chromium through chromedriver (started here on
//! a free port) with fantoccini, plus waits that poll with a deadline.

#![allow(dead_code)]

pub mod http;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process, killed on drop.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    pub url: String,
    _profiles: tempfile::TempDir,
}

impl Driver {
    pub async fn start() -> Driver {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: apt-get install chromium chromium-driver (scripts/test does)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = client.get(format!("{url}/status")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Driver {
            child,
            url,
            _profiles: tempfile::tempdir().unwrap(),
        }
    }

    /// A new headless browser session; `dark` asks for `prefers-color-scheme: dark`;
    /// widths under 500 px emulate a phone (headless windows are at least 500 px wide).
    pub async fn browser(&self, width: u32, height: u32, dark: bool) -> Browser {
        let profile = tempfile::tempdir_in(self._profiles.path()).unwrap();
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if dark {
            args.push("--force-dark-mode".to_owned());
            args.push("--blink-settings=preferredColorScheme=0".to_owned());
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        let mut options = json!({ "binary": CHROMIUM, "args": args });
        if width < 500 {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "touch": true }
            });
        }
        caps.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("opening a Chromium session");
        Browser {
            client,
            _profile: profile,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    _profile: tempfile::TempDir,
}

/// How long a live update may take to show.
pub const LIVE: Duration = Duration::from_secs(15);

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// Runs a script (its body; use `return`).
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap()
    }

    /// Polls `script` until it returns true.
    pub async fn until(&self, what: &str, script: &str, args: Vec<Value>) {
        let deadline = Instant::now() + LIVE;
        loop {
            if self.js(script, args.clone()).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let body = self
                    .js(
                        "return document.body ? document.body.innerText : ''",
                        vec![],
                    )
                    .await;
                panic!(
                    "timed out waiting for {what}; page {} shows:\n{}",
                    self.path().await,
                    body.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the element matching `css` exists and its text contains `needle`.
    pub async fn until_text(&self, css: &str, needle: &str) {
        let script = "const el = document.querySelector(arguments[0]); \
                      return !!el && el.textContent.includes(arguments[1]);";
        self.until(
            &format!("{css} to contain {needle:?}"),
            script,
            vec![json!(css), json!(needle)],
        )
        .await;
    }

    /// The text of the first element matching `css`, or `None`.
    pub async fn text(&self, css: &str) -> Option<String> {
        let script =
            "const el = document.querySelector(arguments[0]); return el ? el.textContent : null;";
        self.js(script, vec![json!(css)])
            .await
            .as_str()
            .map(str::to_owned)
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.js(
            "return !!document.querySelector(arguments[0]);",
            vec![json!(css)],
        )
        .await
            == Value::Bool(true)
    }

    /// Clicks the element matching `css`, finding it again when a live
    /// update replaced it between finding and clicking.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + LIVE;
        loop {
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.click().await,
                Err(e) => Err(e),
            };
            match clicked {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("cannot click {css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Marks the current document, to prove later that it was not reloaded.
    pub async fn mark(&self) {
        self.js("window.__pxMark = 'kept'; return true;", vec![])
            .await;
    }

    pub async fn assert_not_reloaded(&self) {
        let mark = self.js("return window.__pxMark || null;", vec![]).await;
        assert_eq!(mark, json!("kept"), "the page was reloaded");
    }

    /// Signs in through the login form.
    pub async fn login(&self, base: &str, name: &str, password: &str) {
        self.goto(&format!("{base}/admin/plugins")).await;
        assert_eq!(self.path().await, "/admin/login");
        self.fill("#name", name).await;
        self.fill("#password", password).await;
        self.click("button[type=submit]").await;
        self.until(
            "the plugins page after login",
            "return location.pathname === '/admin/plugins' && document.readyState === 'complete';",
            vec![],
        )
        .await;
    }

    /// Saves a screenshot as `target/admin-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // let finite animations (the row flash) finish
        self.until(
            "animations to finish",
            "return document.getAnimations() \
             .every(a => a.effect.getComputedTiming().iterations === Infinity);",
            vec![],
        )
        .await;
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// `target/admin-screenshots` of this workspace (or of `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("admin-screenshots")
}
