//! Who is asking: the bearer token of every API request, checked by the use cases.
//!
//! A handler that takes an [`Actor`] argument only runs for a valid token of an enabled
//! person, who arrives as [`Actor::Person`]; the role each route needs is checked by the use
//! case it calls.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, ApiState};
use crate::app::Actor;
use crate::domain::people::is_token_shaped;

impl FromRequestParts<Arc<ApiState>> for Actor {
    type Rejection = ApiError;

    /// 401 for a missing, malformed, unknown or revoked token and for a disabled person,
    /// without saying which: the answer must not help guess tokens or names.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        state.app.authenticate_token(token).await?.ok_or(ApiError::Unauthorized)
    }
}

/// A bearer token's person who is a supervisor. A supervisors' route takes this instead of
/// an [`Actor`], so an operator is refused (403) before the route reads its path or body and
/// learns nothing of what a well-formed request would be. The use case checks the role again:
/// it is the rule's one authority; this only decides which answer comes first.
pub struct Supervisor(pub Actor);

impl FromRequestParts<Arc<ApiState>> for Supervisor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, Self::Rejection> {
        let actor = Actor::from_request_parts(parts, state).await?;
        actor.require_supervisor()?;
        Ok(Supervisor(actor))
    }
}

/// The token of an `Authorization: Bearer <token>` header, if it is there and has the shape
/// of one of ours. The scheme is case-insensitive (RFC 9110).
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && is_token_shaped(token)).then_some(token)
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(header: Option<&str>) -> Parts {
        let mut request = Request::builder();
        if let Some(value) = header {
            request = request.header(AUTHORIZATION, value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_a_well_formed_bearer_header_yields_a_token() {
        let token = format!("hlt_{}", "a1".repeat(32));
        let with = |value: &str| bearer(&parts(Some(value))).map(str::to_owned);
        assert_eq!(with(&format!("Bearer {token}")), Some(token.clone()));
        assert_eq!(with(&format!("bearer  {token} ")), Some(token.clone()));
        assert_eq!(bearer(&parts(None)), None);
        for bad in [
            format!("Basic {token}"),
            token.clone(),
            format!("Bearer{token}"),
            "Bearer ".into(),
            "Bearer hlt_short".into(),
            format!("Bearer {token}x"),
            format!("Bearer {}", "x".repeat(100_000)),
        ] {
            assert_eq!(with(&bad), None, "{bad:.40}");
        }
    }
}
