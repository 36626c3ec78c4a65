//! The reverse proxy: `ANY /_p/{id}/api/*` to the plugin's `http_base_path`,
//! and `GET /_p/{id}/admin/*` from its `admin.static_dir`.
//!
//! Bodies stream both ways. Each request holds a guard on the backend it was
//! sent to, until its response body ends, so a hot reload drains in-flight
//! requests on the old revision before stopping it.

mod admin;
mod forward;

use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The pooled HTTP/1 client Core uses to reach plugins.
pub type Client = HyperClient<HttpConnector, axum::body::Body>;

/// A client with a connection pool to 127.0.0.1 backends.
pub fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(std::time::Duration::from_secs(5)));
    HyperClient::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build(connector)
}

/// The proxy routes, merged into Core's documented router.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(forward::root))
        .routes(routes!(forward::root_slash))
        .routes(routes!(forward::rest))
        .routes(routes!(admin::root))
        .routes(routes!(admin::root_slash))
        .routes(routes!(admin::path))
}
