//! Legal holds over the API: `PUT /cases/{number}/hold` (supervisors) exempts a case from the
//! retention purge, or releases it; `GET` says whether it is held. Every change is audited
//! by the use case (`crate::app::casework`, which `hotline hold` calls too); the audit line
//! says who and when, and nothing about the caller.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiState, Supervisor};
use crate::domain::cases::CaseNumber;

/// This resource's routes.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new().route("/cases/{number}/hold", get(hold).put(set_hold))
}

/// `GET /cases/{number}/hold` (supervisors): whether the case is under legal hold.
async fn hold(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let number: CaseNumber = number.parse().map_err(ApiError::BadRequest)?;
    let held = state.app.legal_hold(&actor, number).await?;
    Ok(Json(json!({ "number": number, "legal_hold": held })))
}

/// The body of `PUT /cases/{number}/hold`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    hold: bool,
}

/// `PUT /cases/{number}/hold` (supervisors): `{"hold": true}` puts the case under legal hold,
/// `{"hold": false}` releases it. Setting what is already set changes nothing and is not
/// audited as a change.
async fn set_hold(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let number: CaseNumber = number.parse().map_err(ApiError::BadRequest)?;
    let body: HoldBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not the expected JSON: {e}")))?;
    let changed = state.app.set_legal_hold(&actor, number, body.hold).await?;
    Ok(Json(json!({ "number": number, "legal_hold": body.hold, "changed": changed })))
}
