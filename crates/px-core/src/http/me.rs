//! `GET /api/me`: who the caller is and what it may do (used by `px-plugin
//! login` and `status`).

use axum::routing::get;
use axum::{Json, Router};

use crate::auth::Caller;
use crate::state::AppState;

/// The route, merged into Core's router.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/me", get(me))
}

async fn me(caller: Caller) -> Json<px_api::Me> {
    Json(px_api::Me {
        actor: caller.actor,
        permissions: caller.permissions,
        plugin_id: caller.plugin_id,
    })
}
