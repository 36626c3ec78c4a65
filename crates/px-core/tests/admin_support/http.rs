//! Admin over plain HTTP: logging in through the form, fetching pages with
//! the session cookie, and the fields a test reads back.

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};

use crate::common::Core;

/// `application/x-www-form-urlencoded` bodies (reqwest's `form` feature is off).
pub trait FormBody {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        let encode = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        let body: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body.join("&"))
    }
}

/// A client that keeps no cookies and follows no redirects.
pub fn raw() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn add_user(core: &Core, name: &str, role: &str, password: &str) {
    let url = format!(
        "sqlite://{}?mode=rwc",
        core.data.path().join("powerx.db").display()
    );
    let store = px_core::Store::connect(&url).await.unwrap();
    store.add_user(name, role, Some(password)).await.unwrap();
}

/// Logs in through the form; returns the `px_session=…` cookie pair.
pub async fn login(core: &Core, name: &str, password: &str) -> String {
    let response = raw()
        .post(format!("{}/admin/login", core.url))
        .form_body(&[
            ("name", name),
            ("password", password),
            ("next", "/admin/guide"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/admin/guide");
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    cookie.split(';').next().unwrap().to_owned()
}

pub async fn page(core: &Core, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = raw()
        .get(format!("{}{path}", core.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The CSRF token a page renders into its `<meta>`.
pub fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf-token\" content=\"").unwrap() + 27;
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// [`page`] with an `Accept-Language` header.
pub async fn page_in(
    core: &Core,
    cookie: &str,
    path: &str,
    language: &str,
) -> (StatusCode, String) {
    let response = raw()
        .get(format!("{}{path}", core.url))
        .header("cookie", cookie)
        .header("accept-language", language)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}
