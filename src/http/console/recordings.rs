//! A case's voicemail, played through the server: `GET /console/cases/{number}/recording`
//! streams the audio the use case fetches from the provider (`crate::app::provider`), for a
//! person who may see the case, audited there. The provider's address of the recording never
//! reaches the browser, and nothing of the audio is kept by it or anything between
//! (`Cache-Control: no-store`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::ConsoleState;
use super::page::PageError;
use super::session::Viewer;
use crate::app::Actor;
use crate::domain::cases::CaseNumber;

pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new().route("/cases/{number}/recording", get(recording))
}

/// `GET /console/cases/{number}/recording`: the audio, as it comes from the provider. A
/// number that is not a case's is a 404 like a case out of reach, and asks nothing of the
/// provider.
async fn recording(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(number): Path<String>,
) -> Result<Response, PageError> {
    let number: CaseNumber =
        number.parse().map_err(|_| PageError::NotFound("there is no such case".into()))?;
    let actor = Actor::Person(viewer.person.clone());
    let recording = state.app.play_recording(&actor, number).await?;
    let content_type = HeaderValue::from_str(&recording.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let chunks = futures_util::stream::unfold(recording.chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk, chunks))
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    if let Some(length) = recording.length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
