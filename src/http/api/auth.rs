//! Who is asking: the bearer token of every API request, checked against the stored hashes.
//!
//! A handler that takes an [`Actor`] argument only runs for a valid token of an enabled
//! person; it then checks the role itself ([`Actor::require_supervisor`]), so the rule for
//! each route sits next to its code.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{TimeDelta, Utc};

use super::{ApiError, ApiState};
use crate::domain::people::{Person, is_token_shaped, token_hash};

/// How stale a token's `last_used_at` may get before a request refreshes it: noting every
/// use would make every read a write.
const TOUCH_INTERVAL: TimeDelta = TimeDelta::seconds(60);

/// The person making an API request, authenticated by their bearer token.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Who they are; never disabled (a disabled person's token is refused).
    pub person: Person,
}

impl Actor {
    /// Succeeds for a supervisor; [`ApiError::Forbidden`] for anyone else.
    pub fn require_supervisor(&self) -> Result<(), ApiError> {
        if self.person.is_supervisor() { Ok(()) } else { Err(ApiError::Forbidden) }
    }

    /// Their id, as the audit log records it.
    pub fn id(&self) -> i64 {
        self.person.id
    }
}

impl From<Actor> for crate::app::Actor {
    fn from(actor: Actor) -> Self {
        crate::app::Actor::Person(actor.person)
    }
}

impl FromRequestParts<Arc<ApiState>> for Actor {
    type Rejection = ApiError;

    /// 401 for a missing, malformed, unknown or revoked token and for a disabled person,
    /// without saying which: the answer must not help guess tokens or names. The lookup is
    /// one indexed query on the token's hash, so its time does not depend on whether the
    /// person exists either.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let owner =
            state.storage.token_owner(&token_hash(token)).await?.ok_or(ApiError::Unauthorized)?;
        let now = Utc::now();
        if owner.last_used_at.is_none_or(|last| now - last >= TOUCH_INTERVAL) {
            // Bookkeeping only: a failure must not refuse a valid request.
            if let Err(error) = state.storage.touch_token(owner.token_id, now).await {
                tracing::warn!(%error, "could not note a token's use");
            }
        }
        Ok(Actor { person: owner.person })
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
