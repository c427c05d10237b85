//! The operators' chat screens: the conversations waiting for an operator (taken with one
//! click) and those the viewer holds, live; and one conversation as a timeline, with a reply
//! box and a close form while the viewer holds it.
//!
//! Every rule and audit line is the use cases' (`app::conversations`, `app::chat_screens`):
//! who may see a conversation, take it, answer it or close it is decided there, and this
//! module only turns forms into those calls and their answers into pages. The person is
//! shown by case number only; a conversation's reply address never reaches these pages.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::ConsoleState;
use super::live;
use super::page::{Page, PageError, render, see_other};
use super::session::{CsrfForm, Viewer};
use super::text::Text;
use crate::app::chat_screens::ChatScreen;
use crate::app::conversations::MAX_REPLY_CHARS;
use crate::app::{Actor, AppError};
use crate::domain::cases::CaseNumber;
use crate::domain::conversation::{Author, ChatMessage, ChatSummary};
use crate::domain::line_time::{LineZone, Stamp};

/// How often the live regions look again: a person's new words should show within seconds.
const REFRESH: Duration = Duration::from_secs(2);

pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new()
        .route("/chats", get(list))
        .route("/chats/events", get(list_events))
        .route("/chats/{case}", get(chat))
        .route("/chats/{case}/events", get(chat_events))
        .route("/chats/{case}/take", post(take))
        .route("/chats/{case}/reply", post(reply))
        .route("/chats/{case}/template", post(template))
        .route("/chats/{case}/close", post(close))
}

#[derive(Template)]
#[template(path = "console/chats.html")]
struct ListPage {
    page: Page,
    /// The live region's first content, rendered by the same template as its updates.
    chats: String,
}

/// The live part of the list: waiting conversations and the viewer's own.
#[derive(Template)]
#[template(path = "console/chats_list.html")]
struct ListFragment {
    text: &'static Text,
    csrf: String,
    waiting: Vec<ChatLine>,
    yours: Vec<ChatLine>,
}

impl ListFragment {
    fn t<'a>(&self, key: &'a str) -> &'a str
    where
        'static: 'a,
    {
        self.text.get(key)
    }
}

/// One conversation of the list.
struct ChatLine {
    case: String,
    channel: &'static str,
    language: String,
    since: String,
    last_in: String,
    unanswered: u32,
}

impl ChatLine {
    fn new(chat: ChatSummary, zone: LineZone) -> ChatLine {
        ChatLine {
            case: chat.case_number.to_string(),
            channel: chat.channel.label(),
            language: chat.language.map_or_else(|| "—".to_owned(), |l| l.to_string()),
            since: chat.queued_at.map_or_else(|| "—".to_owned(), |at| zone.show(at, Stamp::Minute)),
            last_in: zone.show(chat.last_in_at, Stamp::Minute),
            unanswered: chat.unanswered,
        }
    }
}

/// `GET /console/chats`.
async fn list(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
) -> Result<Html<String>, PageError> {
    let chats = list_fragment(&state, &viewer.actor(), viewer.text, &viewer.csrf).await?;
    render(&ListPage { page: viewer.page("/console/chats"), chats })
}

/// `GET /console/chats/events`: the list, sent when it changes.
async fn list_events(State(state): State<Arc<ConsoleState>>, viewer: Viewer) -> Response {
    let actor = viewer.actor();
    let (text, csrf) = (viewer.text, viewer.csrf.clone());
    let source = state.clone();
    live::fragments(state, &viewer, REFRESH, move || {
        let (state, actor, csrf) = (source.clone(), actor.clone(), csrf.clone());
        async move { list_fragment(&state, &actor, text, &csrf).await }
    })
    .into_response()
}

async fn list_fragment(
    state: &ConsoleState,
    actor: &Actor,
    text: &'static Text,
    csrf: &str,
) -> Result<String, PageError> {
    let me = actor.person().map(|person| person.id);
    let zone = state.app.config().console.time_zone;
    let (mut waiting, mut yours) = (Vec::new(), Vec::new());
    for chat in state.app.chats(actor).await? {
        match chat.operator_id {
            None => waiting.push(ChatLine::new(chat, zone)),
            Some(holder) if Some(holder) == me => yours.push(ChatLine::new(chat, zone)),
            Some(_) => {}
        }
    }
    Ok(render(&ListFragment { text, csrf: csrf.to_owned(), waiting, yours })?.0)
}

#[derive(Template)]
#[template(path = "console/chat.html")]
struct ChatPage {
    page: Page,
    chat: ChatHeader,
    /// The live timeline's first content.
    messages: String,
    dispositions: Vec<String>,
    /// What the last reply's error was, shown above the box, and the text it kept.
    problem: Option<String>,
    draft: String,
}

impl ChatPage {
    fn reply_max(&self) -> usize {
        MAX_REPLY_CHARS
    }
}

/// Who may do what with the conversation now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// The viewer holds it: they reply and close.
    Mine,
    /// It waits for an operator: it can be taken.
    Waiting,
    /// Another operator holds it: read only.
    Theirs,
    /// The person is still in the script: nothing to do yet.
    InScript,
    /// It is over.
    Closed,
}

/// The conversation's header.
struct ChatHeader {
    case: String,
    channel: &'static str,
    language: String,
    state: &'static str,
    standing: Standing,
    holder: Option<String>,
    /// Only the approved template can reach the person now (WhatsApp's window is over).
    template_only: bool,
}

impl ChatHeader {
    fn new(screen: &ChatScreen, me: i64, text: &'static Text) -> ChatHeader {
        let view = &screen.view;
        let standing = match view.operator_id {
            _ if !view.open => Standing::Closed,
            Some(holder) if holder == me => Standing::Mine,
            Some(_) => Standing::Theirs,
            None if screen.state == "operator" => Standing::Waiting,
            None => Standing::InScript,
        };
        let state = match standing {
            Standing::Closed => text.get("chats.state_closed"),
            Standing::Waiting => text.get("chats.state_waiting"),
            Standing::Mine | Standing::Theirs => text.get("chats.state_operator"),
            Standing::InScript => text.get("chats.state_script"),
        };
        ChatHeader {
            case: view.case.to_string(),
            channel: screen.channel.label(),
            language: screen.language.as_ref().map_or_else(|| "—".to_owned(), |l| l.to_string()),
            state,
            standing,
            holder: view.operator_id.map(|id| name_of(screen, id)),
            template_only: screen.template_only,
        }
    }

    fn mine(&self) -> bool {
        self.standing == Standing::Mine
    }

    fn waiting(&self) -> bool {
        self.standing == Standing::Waiting
    }

    fn theirs(&self) -> bool {
        self.standing == Standing::Theirs
    }

    fn closed(&self) -> bool {
        self.standing == Standing::Closed
    }
}

/// An operator's name, or their id when they are gone from the people list.
fn name_of(screen: &ChatScreen, id: i64) -> String {
    screen.operators.get(&id).cloned().unwrap_or_else(|| format!("#{id}"))
}

/// The live timeline.
#[derive(Template)]
#[template(path = "console/chat_messages.html")]
struct MessagesFragment {
    text: &'static Text,
    messages: Vec<MessageLine>,
}

impl MessagesFragment {
    fn t<'a>(&self, key: &'a str) -> &'a str
    where
        'static: 'a,
    {
        self.text.get(key)
    }
}

/// Who a line of the timeline is from, for its look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Voice {
    Person,
    Script,
    Operator,
}

struct MessageLine {
    at: String,
    voice: Voice,
    /// Who wrote it, in the viewer's language (an operator by name).
    who: String,
    body: String,
    /// The delivery of a message to the person, in the viewer's language, and its mark.
    delivery: Option<(&'static str, &'static str)>,
}

impl MessageLine {
    fn new(
        message: &ChatMessage,
        screen: &ChatScreen,
        text: &'static Text,
        zone: LineZone,
    ) -> MessageLine {
        let (voice, who) = match message.author {
            Author::Person => (Voice::Person, text.get("chats.person").to_owned()),
            Author::Bot => (Voice::Script, text.get("chats.script").to_owned()),
            Author::Operator(id) => (Voice::Operator, name_of(screen, id)),
        };
        // The script's prompts are delivered too, but only an operator's words are worth
        // following: the operator needs to know whether the person got them.
        let delivery = match message.delivery.as_deref() {
            _ if voice != Voice::Operator => None,
            Some("sent") => Some((text.get("chats.sent"), "ok")),
            Some("failed") => Some((text.get("chats.failed"), "bad")),
            Some(_) | None => Some((text.get("chats.pending"), "warn")),
        };
        MessageLine {
            at: zone.show(message.at, Stamp::Clock),
            voice,
            who,
            body: message.body.clone(),
            delivery,
        }
    }

    fn class(&self) -> &'static str {
        match self.voice {
            Voice::Person => "person",
            Voice::Script => "script muted",
            Voice::Operator => "operator",
        }
    }
}

fn messages_fragment(
    screen: &ChatScreen,
    text: &'static Text,
    zone: LineZone,
) -> Result<String, PageError> {
    let messages = screen
        .view
        .messages
        .iter()
        .map(|message| MessageLine::new(message, screen, text, zone))
        .collect();
    Ok(render(&MessagesFragment { text, messages })?.0)
}

/// `GET /console/chats/{case}`: the conversation, its read audited as the case's.
async fn chat(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(case): Path<String>,
) -> Result<Html<String>, PageError> {
    let case: CaseNumber = case.parse().map_err(PageError::BadRequest)?;
    chat_page(&state, &viewer, case, None, String::new()).await
}

/// The conversation's page, with the error of a reply and its text when one failed.
async fn chat_page(
    state: &ConsoleState,
    viewer: &Viewer,
    case: CaseNumber,
    problem: Option<String>,
    draft: String,
) -> Result<Html<String>, PageError> {
    let screen = state.app.open_chat(&viewer.actor(), case).await?;
    let chat = ChatHeader::new(&screen, viewer.person.id, viewer.text);
    let messages = messages_fragment(&screen, viewer.text, viewer.zone)?;
    let dispositions =
        state.app.config().cases.dispositions().iter().map(|d| d.as_str().to_owned()).collect();
    render(&ChatPage {
        page: viewer.page("/console/chats"),
        chat,
        messages,
        dispositions,
        problem,
        draft,
    })
}

/// `GET /console/chats/{case}/events`: the timeline, sent when it changes. Opening the
/// stream is a read of the case like opening the page (checked and audited once); the
/// refreshes after it are not audited again.
async fn chat_events(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(case): Path<String>,
) -> Result<Response, PageError> {
    let case: CaseNumber = case.parse().map_err(PageError::BadRequest)?;
    let actor = viewer.actor();
    let opened = state.app.open_chat(&actor, case).await?;
    let mut first = Some(opened);
    let (text, zone) = (viewer.text, viewer.zone);
    let source = state.clone();
    Ok(live::fragments(state, &viewer, REFRESH, move || {
        let (state, actor, opened) = (source.clone(), actor.clone(), first.take());
        async move {
            let screen = match opened {
                Some(screen) => screen,
                None => state.app.follow_chat(&actor, case).await?,
            };
            messages_fragment(&screen, text, zone)
        }
    })
    .into_response())
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
struct NoFields {}

/// `POST /console/chats/{case}/take`: the conversation is the viewer's, or a clear refusal
/// (another operator was quicker, or the viewer holds as many as they may).
async fn take(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(case): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let case: CaseNumber = case.parse().map_err(PageError::BadRequest)?;
    state.app.take_chat(&viewer.actor(), case).await?;
    Ok(see_other(&format!("/console/chats/{case}")))
}

/// `POST /console/chats/{case}/template`: the approved WhatsApp template, the one message
/// that still reaches someone who last wrote more than 24 hours ago.
async fn template(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(case): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let case: CaseNumber = case.parse().map_err(PageError::BadRequest)?;
    state.app.send_whatsapp_template(&viewer.actor(), case).await?;
    Ok(see_other(&format!("/console/chats/{case}")))
}

#[derive(Debug, Deserialize)]
struct ReplyForm {
    #[serde(default)]
    text: String,
}

/// `POST /console/chats/{case}/reply`: queued for the person; a reply refused (empty, too
/// long, not theirs to answer) shows the conversation again with the reason above the box
/// and the text still in it.
async fn reply(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(case): Path<String>,
    CsrfForm(form): CsrfForm<ReplyForm>,
) -> Result<Response, PageError> {
    let case: CaseNumber = case.parse().map_err(PageError::BadRequest)?;
    let refused = match state.app.reply_chat(&viewer.actor(), case, &form.text).await {
        Ok(()) => return Ok(see_other(&format!("/console/chats/{case}"))),
        Err(AppError::Invalid(message)) => (StatusCode::BAD_REQUEST, message),
        Err(AppError::Conflict(message)) => (StatusCode::CONFLICT, message),
        Err(other) => return Err(other.into()),
    };
    let (status, message) = refused;
    let html = chat_page(&state, &viewer, case, Some(message), form.text).await?;
    Ok((status, html).into_response())
}

#[derive(Debug, Deserialize)]
struct CloseForm {
    #[serde(default)]
    disposition: String,
}

/// `POST /console/chats/{case}/close`: the case closes with the disposition chosen (an
/// empty one is refused: nothing is recorded that the operator did not choose), the person
/// is told, and the conversation shows as closed.
async fn close(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(case): Path<String>,
    CsrfForm(form): CsrfForm<CloseForm>,
) -> Result<Response, PageError> {
    let case: CaseNumber = case.parse().map_err(PageError::BadRequest)?;
    state.app.close_chat(&viewer.actor(), case, &form.disposition).await?;
    Ok(see_other(&format!("/console/chats/{case}")))
}
