//! Helpers for the JSON API: people with tokens, requests, and the authorisation matrix.
//!
//! ```ignore
//! let app = spawn_app().await;
//! let (anna, token) = api::person(&app, "anna", Role::Operator, &["ru"]).await;
//! let (status, body) = api::api(&app, "GET", "/api/me", Some(&token), None).await;
//! api::assert_matrix(&app, "GET", "/api/users", None, Allowed::Supervisor).await;
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use hotline::domain::people::{self, Person, Role};
use hotline::storage::NewPerson;
use serde_json::Value;
use ureq::Agent;

use super::TestApp;

/// The dial-in PIN of every person made by [`person`] (stored Argon2-hashed, like any PIN).
pub const TEST_PIN: &str = "246810";

/// The console password of every person made by [`person`] (stored Argon2-hashed).
pub const TEST_PASSWORD: &str = "test-password-0123";

/// A token of the right shape that belongs to nobody.
pub const BAD_TOKEN: &str = "hlt_0000000000000000000000000000000000000000000000000000000000000000";

/// Adds a person directly in the database (not through the API, so nothing is audited),
/// with PIN [`TEST_PIN`], password [`TEST_PASSWORD`] and a fresh API token, which is
/// returned with them. `languages` are codes like `"ru"`.
pub async fn person(app: &TestApp, name: &str, role: Role, languages: &[&str]) -> (Person, String) {
    let new = NewPerson {
        name: people::check_name(name).expect("a valid test name"),
        role,
        languages: people::check_languages(languages.iter().copied()).expect("valid languages"),
        password_hash: Some(hashed(&PASSWORD_HASH, TEST_PASSWORD)),
        pin_hash: Some(hashed(&PIN_HASH, TEST_PIN)),
    };
    let person =
        app.storage.add_person(new, chrono::Utc::now()).await.expect("the person is added");
    let token = token_for(app, person.id).await;
    (person, token)
}

static PIN_HASH: OnceLock<String> = OnceLock::new();
static PASSWORD_HASH: OnceLock<String> = OnceLock::new();

/// The Argon2 hash of a test secret, made once per test binary: a hash takes a third of a
/// second in a debug build, and every person shares the same test secrets anyway.
fn hashed(cell: &'static OnceLock<String>, secret: &str) -> String {
    cell.get_or_init(|| people::hash_secret(secret).unwrap()).clone()
}

/// A new API token for an existing person.
pub async fn token_for(app: &TestApp, id: i64) -> String {
    let token = people::generate_token().unwrap();
    app.storage.add_token(id, people::token_hash(&token), chrono::Utc::now()).await.unwrap();
    token
}

/// Sends a JSON request to the server: `path` includes `/api`, `token` goes in an
/// `Authorization: Bearer` header, `body` is sent as JSON. Returns the status and the body
/// parsed as JSON: `Value::Null` for an empty body, the text as a JSON string if it is not
/// JSON (never panics on the server's answer). If there was no answer (the connection
/// failed or was cut), the status is 0 and the value the error's text.
pub async fn api(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|value| value.to_string().into_bytes());
    raw(app, method, path, token, body, "application/json").await
}

/// Sends any bytes as the body, with this content type: for malformed, huge or hostile
/// bodies. Returns what [`api`] returns.
pub async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
    content_type: &str,
) -> (u16, Value) {
    let url = format!("{}{path}", app.base_url);
    let mut request = ureq::http::Request::builder().method(method).uri(&url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header("Content-Type", content_type);
    }
    let request = request.body(body.unwrap_or_default()).expect("a valid request");
    tokio::task::spawn_blocking(move || {
        let agent: Agent = super::agent_config().build().new_agent();
        let mut response = match agent.run(request) {
            Ok(response) => response,
            // A server that refuses a huge body may close the connection while it is sent.
            Err(error) => return (0, Value::String(error.to_string())),
        };
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    })
    .await
    .unwrap()
}

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Supervisors only: an operator gets 403.
    Supervisor,
    /// Operators and supervisors.
    Both,
}

static MATRIX_PEOPLE: AtomicU32 = AtomicU32::new(0);

/// Checks a route against every kind of caller: no token → 401, a token of nobody → 401,
/// a malformed header → 401, an operator → 403 for [`Allowed::Supervisor`] or anything but
/// 401/403 for [`Allowed::Both`], a supervisor → anything but 401/403. The operator and the
/// supervisor are made fresh (languages `ru`, `uk`) and the operator asks first, so a route
/// that changes something is tried by the supervisor after the operator.
///
/// Returns the supervisor's answer, so the caller can check it further.
pub async fn assert_matrix(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    allowed: Allowed,
) -> (u16, Value) {
    let n = MATRIX_PEOPLE.fetch_add(1, Ordering::Relaxed);
    let (_, operator) = person(app, &format!("matrix-op-{n}"), Role::Operator, &["ru", "uk"]).await;
    let (_, supervisor) =
        person(app, &format!("matrix-sup-{n}"), Role::Supervisor, &["ru", "uk"]).await;
    let route = format!("{method} {path}");

    let (status, answer) = api(app, method, path, None, body.clone()).await;
    assert_eq!(status, 401, "{route} without a token: {answer}");
    let (status, answer) = api(app, method, path, Some(BAD_TOKEN), body.clone()).await;
    assert_eq!(status, 401, "{route} with an unknown token: {answer}");
    let (status, answer) = api(app, method, path, Some("not a token"), body.clone()).await;
    assert_eq!(status, 401, "{route} with a malformed token: {answer}");

    let (status, answer) = api(app, method, path, Some(&operator), body.clone()).await;
    match allowed {
        Allowed::Supervisor => assert_eq!(status, 403, "{route} as an operator: {answer}"),
        Allowed::Both => {
            assert!(![401, 403].contains(&status), "{route} as an operator: {status} {answer}")
        }
    }
    let (status, answer) = api(app, method, path, Some(&supervisor), body).await;
    assert!(![401, 403].contains(&status), "{route} as a supervisor: {status} {answer}");
    (status, answer)
}
