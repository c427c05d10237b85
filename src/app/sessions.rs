//! The console's sessions: a login's password check, a session started, looked up, ended.
//!
//! What stays in the console is HTTP: the cookies, the login form's token, and the limiter
//! of failed logins, which counts before and after [`App::check_password`]. A session is
//! known by the SHA-256 of its token; the token itself is only in the browser's cookie.

use std::time::Duration;

use chrono::TimeDelta;

use crate::app::{Actor, App, AppError};
use crate::domain::audit::AuditAction;
use crate::domain::people::{Person, check_name, random_hex, token_hash};
use crate::domain::session::ConsoleSession;

/// How stale a session's `last_seen_at` may get before a request refreshes it: noting every
/// request would make every page a write.
const TOUCH_INTERVAL: TimeDelta = TimeDelta::seconds(60);

/// How long a session lives: without a request, and at most.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// A session without a request for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after its login, however busy.
    pub lifetime: Duration,
}

impl SessionLimits {
    fn idle(&self) -> TimeDelta {
        TimeDelta::from_std(self.idle_timeout).unwrap_or(TimeDelta::MAX)
    }

    fn lifetime(&self) -> TimeDelta {
        TimeDelta::from_std(self.lifetime).unwrap_or(TimeDelta::MAX)
    }
}

/// A session just started: its token for the cookie, shown nowhere else.
#[derive(Debug)]
pub struct StartedSession {
    /// The session token.
    pub token: String,
}

impl App {
    /// The enabled person named `name` if `password` is theirs; `None` otherwise, without
    /// saying why. Without a stored hash a decoy is checked, so the answer takes as long for
    /// a name that exists. [`AppError::Busy`] when every password check is taken.
    pub async fn check_password(
        &self,
        name: &str,
        password: String,
    ) -> Result<Option<Person>, AppError> {
        let record = match check_name(name) {
            Ok(name) => self.storage().login_record(&name).await?,
            Err(_) => None,
        };
        let hash = record.as_ref().and_then(|r| r.password_hash.clone());
        let matches = self.hashers().verify(hash, password).await.map_err(|_| AppError::Busy)?;
        Ok(record.map(|r| r.person).filter(|p| matches && !p.disabled))
    }

    /// Starts a console session for `person`, who just logged in (audited `console.login`,
    /// with `detail` saying from where); sessions past `limits` are removed first.
    pub async fn start_session(
        &self,
        person: &Person,
        detail: String,
        limits: SessionLimits,
    ) -> Result<StartedSession, AppError> {
        let now = self.now();
        let storage = self.storage();
        if let Err(error) =
            storage.end_expired_sessions(now - limits.idle(), now - limits.lifetime()).await
        {
            tracing::warn!(%error, "could not remove expired console sessions");
        }
        let token = random_hex().map_err(|e| AppError::Internal(Box::new(e)))?;
        let csrf = random_hex().map_err(|e| AppError::Internal(Box::new(e)))?;
        storage
            .start_session(
                person.id,
                token_hash(&token),
                csrf,
                detail,
                AuditAction::ConsoleLogin,
                now,
            )
            .await?;
        Ok(StartedSession { token })
    }

    /// The session whose token has the hash `hash`, if it is still live within `limits`; an
    /// expired one is removed (not audited: nobody logged out).
    pub async fn live_session(
        &self,
        hash: &str,
        limits: SessionLimits,
    ) -> Result<Option<ConsoleSession>, AppError> {
        let storage = self.storage();
        let Some(session) = storage.console_session(hash).await? else { return Ok(None) };
        let now = self.now();
        if now - session.last_seen_at > limits.idle()
            || now - session.created_at > limits.lifetime()
        {
            storage.end_session(hash, None, now).await?;
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_INTERVAL {
            // Bookkeeping only: a failure must not refuse a valid request.
            if let Err(error) = storage.touch_session(hash, now).await {
                tracing::warn!(%error, "could not note a console session's use");
            }
        }
        Ok(Some(session))
    }

    /// Ends `actor`'s session whose token has the hash `hash` (audited `console.logout`).
    pub async fn end_session(&self, actor: &Actor, hash: &str) -> Result<(), AppError> {
        let audit = actor.audit_id().map(|id| (id, AuditAction::ConsoleLogout));
        Ok(self.storage().end_session(hash, audit, self.now()).await?)
    }

    /// Sets the language of `actor`'s console; the console checks it is one it speaks.
    pub async fn set_console_language(
        &self,
        actor: &Actor,
        language: String,
    ) -> Result<(), AppError> {
        let Some(person) = actor.person() else { return Err(AppError::Forbidden) };
        Ok(self.storage().set_console_language(person.id, Some(language)).await?)
    }
}
