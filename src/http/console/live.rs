//! Live regions: a part of a page the server keeps up to date over Server-Sent Events.
//!
//! A page marks a region `<div data-live="/console/…/events">`; `assets/console.js` opens an
//! `EventSource` on it and replaces the region's children with each message's HTML. The
//! server renders the fragment every `every`, sends it only when it changed, and ends the
//! stream with an `expired` event when the session is over (the script then reloads the
//! page, which leads to the login). Rendering on the server keeps one template per view and
//! leaves the browser nothing to trust but our own HTML.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use futures_util::stream;

use super::ConsoleState;
use super::page::PageError;
use super::session::{Viewer, live_session};

/// Where a live stream is: the fragment last sent, and whether it has ended.
struct Cursor<F> {
    state: Arc<ConsoleState>,
    session: String,
    render: F,
    every: Duration,
    last: Option<String>,
    first: bool,
    done: bool,
}

/// An SSE response that sends `render`'s fragment whenever it changes, checking every
/// `every`, for as long as `viewer`'s session lives. A render that fails is logged and
/// tried again at the next tick: the page keeps its last good fragment. The stream borrows
/// nothing of `viewer` (`use<F, Fut>`), so a handler can return it.
pub fn fragments<F, Fut>(
    state: Arc<ConsoleState>,
    viewer: &Viewer,
    every: Duration,
    render: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<F, Fut>>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<String, PageError>> + Send,
{
    let cursor = Cursor {
        state,
        session: viewer.session.clone(),
        render,
        every,
        last: None,
        first: true,
        done: false,
    };
    let events = stream::unfold(cursor, |mut cursor| async move {
        if cursor.done {
            return None;
        }
        loop {
            if !cursor.first {
                tokio::time::sleep(cursor.every).await;
            }
            cursor.first = false;
            match live_session(&cursor.state, &cursor.session).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    cursor.done = true;
                    return Some((Ok(Event::default().event("expired").data("")), cursor));
                }
                Err(error) => {
                    tracing::warn!(%error, "a live region could not check its session");
                    continue;
                }
            }
            match (cursor.render)().await {
                Ok(html) if cursor.last.as_ref() != Some(&html) => {
                    let event = Event::default().data(&html);
                    cursor.last = Some(html);
                    return Some((Ok(event), cursor));
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "a live region could not be rendered"),
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
