//! Legal holds over the API: `PUT /cases/{number}/hold` (supervisors) exempts a case from the
//! retention purge, or releases it; `GET` says whether it is held. Every change is audited
//! by the use case (`crate::app::casework`, which `hotline hold` calls too); the audit line
//! says who and when, and nothing about the caller.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiState, ErrorBody, Supervisor};
use crate::domain::cases::CaseNumber;

/// This resource's routes.
pub fn router() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new().routes(routes!(hold, set_hold))
}

/// Whether a case is under legal hold.
#[derive(Debug, Serialize, ToSchema)]
struct Hold {
    /// The case.
    number: CaseNumber,
    /// Whether the retention purge leaves it alone.
    legal_hold: bool,
    /// `PUT` only: whether this request changed it (setting what is set changes nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    changed: Option<bool>,
}

/// `GET /cases/{number}/hold` (supervisors): whether the case is under legal hold.
#[utoipa::path(
    get,
    path = "/cases/{number}/hold",
    tag = "cases",
    params(("number" = CaseNumber, Path, description = "The case")),
    responses(
        (status = 200, description = "Whether it is held", body = Hold),
        (status = 400, description = "Not a case number", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such case", body = ErrorBody),
    )
)]
async fn hold(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
) -> Result<Json<Hold>, ApiError> {
    let number: CaseNumber = number.parse().map_err(ApiError::BadRequest)?;
    let legal_hold = state.app.legal_hold(&actor, number).await?;
    Ok(Json(Hold { number, legal_hold, changed: None }))
}

/// The body of `PUT /cases/{number}/hold`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    /// `true` holds the case, `false` releases it.
    hold: bool,
}

/// `PUT /cases/{number}/hold` (supervisors): `{"hold": true}` puts the case under legal hold,
/// `{"hold": false}` releases it. Setting what is already set changes nothing and is not
/// audited as a change.
#[utoipa::path(
    put,
    path = "/cases/{number}/hold",
    tag = "cases",
    params(("number" = CaseNumber, Path, description = "The case")),
    request_body = HoldBody,
    responses(
        (status = 200, description = "Held or released (audited when it changed)", body = Hold),
        (status = 400, description = "Not a case number, or not the expected body", body = ErrorBody),
        (status = 403, description = "Supervisors only", body = ErrorBody),
        (status = 404, description = "No such case", body = ErrorBody),
    )
)]
async fn set_hold(
    Supervisor(actor): Supervisor,
    State(state): State<Arc<ApiState>>,
    Path(number): Path<String>,
    body: Bytes,
) -> Result<Json<Hold>, ApiError> {
    let number: CaseNumber = number.parse().map_err(ApiError::BadRequest)?;
    let body: HoldBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not the expected JSON: {e}")))?;
    let changed = state.app.set_legal_hold(&actor, number, body.hold).await?;
    Ok(Json(Hold { number, legal_hold: body.hold, changed: Some(changed) }))
}
