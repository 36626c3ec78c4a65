//! `GET /api/openapi.json`: the OpenAPI 3 document of Core's API, generated
//! from the routes themselves.
//!
//! Every API route is registered through [`utoipa_axum::router::OpenApiRouter`]
//! with `routes!()`, which takes the path and methods from the handler's
//! `#[utoipa::path]`: a route cannot be served without being documented.
//! The Admin HTML pages (`/admin/*`) are not API and stay out of the document.
//!
//! axum writes a catch-all segment as `{*rest}`; the document names it
//! `{rest}`, as OpenAPI path templates have no wildcard syntax (such a
//! parameter matches the rest of the path, slashes included).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use px_api::ErrorBody;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::SESSION_COOKIE;
use crate::state::AppState;

/// Name of the bearer-token security scheme in the document.
pub const BEARER_SCHEME: &str = "bearer";
/// Name of the Admin-session-cookie security scheme in the document.
pub const SESSION_SCHEME: &str = "session";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "PowerX Core API",
        description = "Plugin dev hot reload: install, reload, roll back and watch plugins. \
            Authenticate with `Authorization: Bearer <token>` (`powerx tokens create`) or the \
            Admin session cookie; cookie requests that change state must send `X-CSRF-Token`. \
            Errors are `{\"error\":{\"code\",\"message\",\"details\"}}`."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorBody, px_api::ServerControl, px_api::ClientOp, px_api::ServerMessage)),
    tags(
        (name = "dev", description = "The dev API (`plugin:dev`); 404 when dev mode is off"),
        (name = "plugins", description = "Installed plugins (`plugin:read`)"),
        (name = "events", description = "The `plugin.dev.logs` WebSocket"),
        (name = "session", description = "Who is calling; Admin sign-in"),
        (name = "audit", description = "The audit log (`audit:read`)"),
        (name = "ops", description = "Liveness, metrics, alerts, this document"),
        (name = "proxy", description = "Plugin backends and Admin pages under `/_p/{id}/`"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "Admin session (`POST /api/login`); state-changing calls also need `X-CSRF-Token`",
            ))),
        );
    }
}

/// 401 and 403 answers of every route that needs a credential.
#[derive(Debug, IntoResponses)]
pub enum Denied {
    /// No credential, or an unknown, expired or revoked one.
    #[response(
        status = 401,
        description = "no credential, or an invalid, expired or revoked one"
    )]
    Unauthorized(#[to_schema] ErrorBody),
    /// The caller lacks the permission (audited), or a session call without `X-CSRF-Token`.
    #[response(
        status = 403,
        description = "the caller lacks the permission (audited), or a cookie request changing state sent no valid X-CSRF-Token"
    )]
    Forbidden(ErrorBody),
}

/// The raw bytes of a `.pxp` bundle (a request body in the document).
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct PxpBundle(pub Vec<u8>);

/// A 403 of the install route: the install report when the policy's
/// `dev.plugin_ids` refuses the plugin id, the error body when the caller
/// lacks `plugin:dev`.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(untagged)]
pub enum InstallForbidden {
    /// The plugin id is not allowed.
    Report(px_api::InstallReport),
    /// The caller lacks the permission.
    Error(ErrorBody),
}

/// The routes of this module.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(document))
}

/// All API routes, each documented; the caller adds the Admin pages.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(super::ops::routes())
        .merge(routes())
        .merge(super::plugins::routes())
        .merge(super::ws::routes())
        .merge(super::me::routes())
        .merge(super::session::routes())
        .merge(super::audit::routes())
        .merge(crate::proxy::routes())
}

/// The document as served: wildcard segments renamed for OpenAPI.
pub fn document_of(router: &OpenApiRouter<AppState>) -> Document {
    let mut doc = router.get_openapi().clone();
    doc.info.version = crate::VERSION.to_owned();
    let paths = std::mem::take(&mut doc.paths.paths);
    doc.paths.paths = paths
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    doc
}

/// The OpenAPI document of this Core's API, as JSON text (built once).
pub fn served() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        document_of(&api_router())
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    })
}

/// The OpenAPI 3 document of this API.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "ops",
    description = "Permission: none. The OpenAPI 3.1 document of every API route of this Core.",
    security(()),
    responses((status = 200, description = "the document", content_type = "application/json"))
)]
async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], served())
}
