//! The baseline: the least a webhook server on the same stack can do. It answers every
//! `POST /voice/…` with one static TwiML document (a menu whose keys come back to it), on the
//! same axum, tokio runtime and HTTP/1 server as `hotline serve`, without signature checks,
//! scripts or a database. Its requests/s is the practical limit for any webhook on the machine.

use std::process::ExitCode;

use axum::Router;
use axum::http::header;
use axum::routing::{get, post};

/// The document every request gets: a prompt and a one-key menu, about the size of the
/// hotline's menus.
const DOCUMENT: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
    r#"<Gather input="dtmf" numDigits="1" timeout="7" action="/voice/menu" method="POST">"#,
    r#"<Say voice="Polly.Joanna" language="en-US">If you are a serviceman and want to surrender, "#,
    r#"press 1. If you are a relative or friend of a serviceman, press 2. To hear how prisoners "#,
    r#"are treated, press 3. To speak to an operator now, press 0.</Say></Gather>"#,
    r#"<Redirect method="POST">/voice/menu</Redirect></Response>"#
);

/// Serves the baseline on `HOTLINE_SERVER_LISTEN` until killed.
pub fn serve() -> ExitCode {
    let Ok(listen) = std::env::var("HOTLINE_SERVER_LISTEN") else {
        eprintln!("hotline-bench baseline: HOTLINE_SERVER_LISTEN is not set");
        return ExitCode::from(2);
    };
    // The same runtime as `hotline serve`: multi-threaded, a worker per core.
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hotline-bench baseline: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("hotline-bench baseline: cannot listen on {listen}: {e}");
                return ExitCode::from(2);
            }
        };
        let router = Router::new()
            // The form is read, as any webhook must (an unread body also costs the
            // connection its keep-alive), but not parsed.
            .route(
                "/voice/{*rest}",
                post(|_form: axum::body::Bytes| async {
                    ([(header::CONTENT_TYPE, "text/xml")], DOCUMENT)
                }),
            )
            .route("/readyz", get(|| async { "ready\n" }));
        match axum::serve(listener, router).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hotline-bench baseline: {e}");
                ExitCode::from(2)
            }
        }
    })
}
