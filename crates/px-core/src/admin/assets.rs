//! `GET /admin/assets/{name}`: Admin's CSS and scripts, compiled into the
//! binary. Pages link them with `?v=<content hash>`, so they can be cached
//! for a long time and still change with every build that changes them.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// `(name, content type, content)` of every asset.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "admin.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/admin.css"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/admin.js"),
    ),
    (
        "plugins.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/plugins.js"),
    ),
    (
        "detail.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/detail.js"),
    ),
    (
        "entry.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/entry.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../assets/favicon.svg"),
    ),
];

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for (name, _, content) in ASSETS {
        hash.update(name.as_bytes());
        hash.update(content.as_bytes());
    }
    hex::encode(&hash.finalize()[..6])
});

/// Short hash of all assets, for `?v=` in links.
pub fn version() -> &'static str {
    VERSION.as_str()
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/admin/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, content)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            *content,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
