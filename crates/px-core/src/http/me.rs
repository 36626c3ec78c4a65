//! `GET /api/me`: who the caller is and what it may do (used by `px-plugin
//! login` and `status`).

use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::state::AppState;

/// The route, merged into Core's router.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// Who the caller is.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "session",
    description = "Permission: any valid credential. The caller's name and effective permissions \
        (a plugin token answers `plugin:<id>` and its plugin id), Core's version and the PowerX \
        version it is compatible with (what `corex_version` is matched against).",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the caller", body = px_api::Me),
        (status = 401, description = "no credential, or an invalid, expired or revoked one", body = px_api::ErrorBody),
    )
)]
async fn me(caller: Caller) -> Json<px_api::Me> {
    Json(px_api::Me {
        actor: caller.actor,
        permissions: caller.permissions,
        plugin_id: caller.plugin_id,
        core_version: crate::VERSION.to_owned(),
        powerx_compat_version: crate::POWERX_COMPAT_VERSION.to_owned(),
    })
}
