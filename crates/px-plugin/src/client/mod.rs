//! Talking to Core: a small HTTP client over the REST API, the `plugin.dev.logs`
//! WebSocket ([`ws`]) and the saved login ([`saved`]). Only `px-api` types
//! cross the wire.

pub mod saved;
pub mod ws;

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context as _;
use px_api::{ErrorBody, Health, InstallReport, LogsResponse, Me, PluginList};
use reqwest::{RequestBuilder, Response, StatusCode};

use crate::cli::Global;
use crate::exit::CliError;

/// Core's default URL (`--core`'s default).
pub const DEFAULT_CORE: &str = "http://127.0.0.1:8077";

/// A Core to talk to, with the token to use.
#[derive(Clone)]
pub struct CoreClient {
    url: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for CoreClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreClient")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Filters of `GET /api/plugins/{id}/logs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsQuery {
    /// At most this many of the newest matching messages.
    pub tail: usize,
    /// Only messages at or after (epoch ms).
    pub since: Option<i64>,
    /// Only messages before (epoch ms).
    pub until: Option<i64>,
    /// Only messages of this install.
    pub install_id: Option<String>,
    /// Only messages with a greater `seq`.
    pub after_seq: Option<u64>,
}

/// A Core answer that is an error body (not an install report).
#[derive(Debug, thiserror::Error)]
#[error("core answered {status}: {message}{hint}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The error code of the body (`unauthorized`, `not_found`, …).
    pub code: String,
    /// The message of the body.
    pub message: String,
    hint: &'static str,
}

impl CoreClient {
    /// The Core and token chosen by the global options: `--core`/`PX_CORE_URL`,
    /// else the saved login's Core, else the default; `--token`/`PX_TOKEN`,
    /// else the saved login's token when it is for that Core.
    pub fn from_global(global: &Global) -> anyhow::Result<CoreClient> {
        let saved = saved::load().unwrap_or_else(|err| {
            anstream::eprintln!("warning: ignoring the saved login: {err:#}");
            None
        });
        let url = match &saved {
            Some(login) if !core_given_explicitly() && global.core == DEFAULT_CORE => {
                login.core_url.clone()
            }
            _ => global.core.clone(),
        };
        let token = global.token.clone().or_else(|| {
            saved
                .filter(|login| login.core_url == url)
                .map(|login| login.token)
        });
        Ok(CoreClient::new(url, token))
    }

    /// A client for `url` with an optional token.
    pub fn new(url: impl Into<String>, token: Option<String>) -> CoreClient {
        CoreClient {
            url: url.into().trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
            http: reqwest::Client::new(),
        }
    }

    /// Core's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The token, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether Core runs on this machine (its host is a loopback address), so
    /// it can read our `dist/` directly.
    pub fn is_local(&self) -> bool {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest);
        let authority = rest.split('/').next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends, turning a failed connection into "cannot reach Core" (exit 3).
    async fn send(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        request.send().await.map_err(|err| {
            if err.is_connect() || err.is_timeout() {
                CliError::CoreUnreachable {
                    url: self.url.clone(),
                    source: Box::new(err),
                }
                .into()
            } else {
                anyhow::Error::new(err).context("talking to core")
            }
        })
    }

    /// Sends and reads a JSON answer, or the error body as an [`ApiError`].
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> anyhow::Result<T> {
        let response = self.send(request).await?;
        if !response.status().is_success() {
            return Err(api_error(response).await.into());
        }
        response.json().await.context("reading core's answer")
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> anyhow::Result<Health> {
        self.json(self.request(reqwest::Method::GET, "/healthz"))
            .await
    }

    /// `GET /api/me`.
    pub async fn me(&self) -> anyhow::Result<Me> {
        self.json(self.request(reqwest::Method::GET, "/api/me"))
            .await
    }

    /// `GET /api/plugins`.
    pub async fn plugins(&self) -> anyhow::Result<PluginList> {
        self.json(self.request(reqwest::Method::GET, "/api/plugins"))
            .await
    }

    /// `GET /api/plugins/{id}/logs` with the filters of `query`.
    pub async fn logs(&self, id: &str, query: &LogsQuery) -> anyhow::Result<LogsResponse> {
        let mut path = format!("/api/plugins/{id}/logs?tail={}", query.tail);
        for (name, value) in [
            ("since", query.since.map(|v| v.to_string())),
            ("until", query.until.map(|v| v.to_string())),
            ("after_seq", query.after_seq.map(|v| v.to_string())),
        ] {
            if let Some(value) = value {
                path.push_str(&format!("&{name}={value}"));
            }
        }
        if let Some(install) = &query.install_id {
            // install ids are UUIDs; anything else is refused before sending
            anyhow::ensure!(
                install
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "an install id has only letters, digits and '-'"
            );
            path.push_str(&format!("&install_id={install}"));
        }
        self.json(self.request(reqwest::Method::GET, &path)).await
    }

    /// `DELETE /api/plugins/dev/install`.
    pub async fn uninstall(&self, id: &str) -> anyhow::Result<()> {
        let body = px_api::UninstallRequest {
            plugin_id: id.to_owned(),
        };
        let request = self
            .request(reqwest::Method::DELETE, "/api/plugins/dev/install")
            .json(&body);
        let _: serde_json::Value = self.json(request).await?;
        Ok(())
    }

    /// Directory install of `dist` (an absolute path on Core's filesystem).
    /// Returns the HTTP status and the report.
    pub async fn install_dir(&self, dist: &Path) -> anyhow::Result<(StatusCode, InstallReport)> {
        let body = px_api::InstallRequest {
            source: px_api::InstallSource::Dir {
                path: dist.display().to_string(),
            },
        };
        let request = self
            .request(reqwest::Method::POST, "/api/plugins/dev/install")
            .json(&body);
        self.report(request).await
    }

    /// Upload install of `.pxp` bytes.
    pub async fn install_pxp(&self, bytes: Vec<u8>) -> anyhow::Result<(StatusCode, InstallReport)> {
        let request = self
            .request(reqwest::Method::POST, "/api/plugins/dev/install")
            .header(reqwest::header::CONTENT_TYPE, px_api::PXP_CONTENT_TYPE)
            .body(bytes);
        self.report(request).await
    }

    /// Uploads a PowerX package (gzip tar) and waits for the install report.
    pub async fn install_package(
        &self,
        bytes: Vec<u8>,
    ) -> anyhow::Result<(StatusCode, InstallReport)> {
        let request = self
            .request(reqwest::Method::POST, "/api/plugins/dev/install")
            .header(reqwest::header::CONTENT_TYPE, px_bundle::PACKAGE_MEDIA_TYPE)
            .body(bytes);
        self.report(request).await
    }

    async fn report(&self, request: RequestBuilder) -> anyhow::Result<(StatusCode, InstallReport)> {
        let response = self.send(request).await?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .context("reading the install report")?;
        if let Ok(report) = serde_json::from_slice::<InstallReport>(&bytes) {
            return Ok((status, report));
        }
        Err(error_from_body(status, &bytes).into())
    }
}

async fn api_error(response: Response) -> ApiError {
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    error_from_body(status, &bytes)
}

fn error_from_body(status: StatusCode, bytes: &[u8]) -> ApiError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => (body.error.code, body.error.message),
        Err(_) => (
            "unexpected".to_owned(),
            String::from_utf8_lossy(bytes)
                .trim()
                .chars()
                .take(300)
                .collect(),
        ),
    };
    let hint = match status {
        StatusCode::UNAUTHORIZED => " (run `px-plugin login` or pass --token)",
        StatusCode::NOT_FOUND if code == "not_found" && message == "no such route" => {
            " (is Core running with --dev?)"
        }
        _ => "",
    };
    ApiError {
        status,
        code,
        message,
        hint,
    }
}

/// Whether `--core` was on the command line or `PX_CORE_URL` is set.
fn core_given_explicitly() -> bool {
    std::env::var_os("PX_CORE_URL").is_some()
        || std::env::args_os().any(|arg| {
            let arg = arg.to_string_lossy();
            arg == "--core" || arg.starts_with("--core=")
        })
}

/// A tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_local() {
        for url in [
            "http://127.0.0.1:8077",
            "http://localhost",
            "http://[::1]:9/",
            "https://127.1.2.3",
        ] {
            assert!(CoreClient::new(url, None).is_local(), "{url}");
        }
        for url in [
            "http://10.0.0.1:8077",
            "http://core.example.com",
            "http://[fe80::1]",
        ] {
            assert!(!CoreClient::new(url, None).is_local(), "{url}");
        }
    }

    #[test]
    fn the_token_is_not_in_debug_output() {
        let client = CoreClient::new("http://h", Some("s3cret".into()));
        assert!(!format!("{client:?}").contains("s3cret"));
    }
}
