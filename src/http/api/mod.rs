//! The JSON API for operators and supervisors at a screen: `/api/…`, bearer tokens, roles,
//! and an audit log of every read of a case and every change.
//!
//! One module per resource, each with its `router()`; this module merges them and defines
//! what they share: the state, the bearer token's [`Actor`] (extracted in `auth.rs`), and
//! [`ApiError`], which turns every failure into a JSON body with a status. Internal causes
//! are logged and never shown; client mistakes are not logged as errors. The routes are
//! registered with their OpenAPI description (`openapi.rs`), which is served beside them.

mod auth;
pub(crate) mod cases;
pub(crate) mod followups;
mod openapi;
mod people;
mod queues;
mod retention;
mod scripts;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::app::Actor;
use auth::Supervisor;

use crate::app::{App, AppError};

/// What every API handler can reach: the hotline.
pub struct ApiState {
    /// The use cases.
    pub app: App,
}

/// The routes of the API, under `/api`.
pub fn router(state: Arc<ApiState>) -> Router {
    let (router, _description) = routes().split_for_parts();
    router.with_state(state)
}

/// Every route with its description: the one list both [`router`] and [`description`] are
/// made from.
fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .merge(people::router())
        .merge(queues::router())
        .merge(cases::router())
        .merge(followups::router())
        .merge(retention::router())
        .merge(scripts::router())
        .routes(routes!(openapi::document))
}

/// Why an API request failed. The message of a client error is shown; an internal error's
/// cause is logged and the client sees only that something went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or not a valid one (401).
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The token is valid but its role may not do this (403).
    #[error("your role may not do this")]
    Forbidden,
    /// The thing named does not exist, or is not visible to this user (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or its values are wrong (400); the message says how to fix it.
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the current state (409), e.g. a case already closed.
    #[error("{0}")]
    Conflict(String),
    /// The request is well formed but what it asks would break something (422); the
    /// diagnostics say what, each with file, line and column.
    #[error("{message}")]
    Invalid {
        /// What was refused.
        message: String,
        /// Every problem found.
        diagnostics: Vec<serde_json::Value>,
    },
    /// Too many password or PIN checks at once (503); the client may try again shortly.
    #[error("the server is busy; try again in a moment")]
    Busy,
    /// Something failed on our side (500).
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Forbidden => ApiError::Forbidden,
            AppError::NotFound(message) => ApiError::NotFound(message),
            AppError::Invalid(message) => ApiError::BadRequest(message),
            AppError::Conflict(message) => ApiError::Conflict(message),
            AppError::Rejected { message, diagnostics } => {
                ApiError::Invalid { message, diagnostics }
            }
            AppError::Busy => ApiError::Busy,
            AppError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

/// The body of every refusal.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({ "error": "a valid bearer token is required" }))]
pub struct ErrorBody {
    /// What went wrong; for a mistake of the request, how to fix it.
    error: String,
    /// `422` only: every problem found in the scripts, each with its file, line and column.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = scripts::diagnostics_schema)]
    diagnostics: Option<Vec<serde_json::Value>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(cause) => {
                // Not returned to the client: it may name tables, paths or data.
                tracing::error!(error = %cause, "API request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let error = self.to_string();
        let diagnostics = match self {
            ApiError::Invalid { diagnostics, .. } => Some(diagnostics),
            _ => None,
        };
        (status, Json(ErrorBody { error, diagnostics })).into_response()
    }
}

/// A JSON body, or a 400 that says what is wrong with it; `limit` is the route's body limit,
/// named in the message when the body is over it.
fn json_body<T>(body: Result<Json<T>, JsonRejection>, limit: usize) -> Result<T, ApiError> {
    match body {
        Ok(Json(value)) => Ok(value),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::BadRequest(format!("the body is too large: at most {limit} bytes")))
        }
        Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
    }
}
