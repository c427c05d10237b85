//! The operator's screen: their state in one click and how they are reached (on the line,
//! with the line's number, or call me, with their phone number masked), the live queues of
//! the languages they speak (counting the callers who wait, not those being connected), a
//! claim on the next caller (marked reserved for them while the hold counts down), and the
//! case they are on (or a case they open by number, among those they may see) with its
//! outcome, timeline, whisper, earlier cases, notes, disposition and closing, after which the
//! page says what was recorded. Outcomes and timeline lines are the domain's
//! (`domain::timeline`), in the viewer's language; this screen shows the lines of the caller's
//! way, not the full record.
//!
//! Every rule and audit line is the use cases' (`app::presence`, and the JSON API's case
//! handlers until the case use cases take them): this module only turns forms into those
//! calls and their answers into pages. A waiting caller is
//! shown by case number, tags and marks; no phone number is ever on these pages.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::ConsoleState;
use super::live;
use super::page::{Page, PageError, choice_labels, render, see_other};
use super::session::{CsrfForm, Viewer};
use super::text::Text;
use crate::app::operator_reach::ReachView;
use crate::app::presence::LanguageQueue;
use crate::app::queues::Whisper;
use crate::app::{Actor, AppError};
use crate::domain::cases::CaseNumber;
use crate::domain::casework::{CaseDetail, MAX_NOTE_CHARS};
use crate::domain::line_time::{LineZone, Stamp};
use crate::domain::queue::{EntryState, PresenceState, Reach};
use crate::domain::timeline::timeline;
use crate::scripts::ScriptSet;

/// How often the live queue is looked at: waits tick by the second.
const QUEUE_REFRESH: Duration = Duration::from_secs(1);

pub(super) fn router() -> Router<Arc<ConsoleState>> {
    Router::new()
        .route("/operator", get(screen))
        .route("/operator/state", post(set_state))
        .route("/operator/reach", post(set_reach))
        .route("/operator/queues/events", get(queue_events))
        .route("/operator/claim", post(claim))
        .route("/operator/case", get(open_case))
        .route("/operator/case/{number}", get(case_page))
        .route("/operator/case/{number}/notes", post(add_note))
        .route("/operator/case/{number}/disposition", post(set_disposition))
}

/// The viewer as the use cases know them.
pub(super) fn actor(viewer: &Viewer) -> Actor {
    viewer.actor()
}

#[derive(Template)]
#[template(path = "console/operator.html")]
struct OperatorPage {
    page: Page,
    /// Their state as it reads now.
    state: &'static str,
    /// Seconds of wrap-up left.
    wrap_up_left: Option<i64>,
    /// How they are reached.
    reach: ReachBlock,
    /// The live region's first content, rendered by the same template as its updates.
    queues: String,
    /// What the last claim did.
    claimed: Option<Claim>,
    /// The case they are on.
    case: Option<CaseView>,
    dispositions: Vec<String>,
}

/// How the operator is reached, as the status card shows it.
struct ReachBlock {
    /// In call-me mode (else on the line).
    call_me: bool,
    /// The mode's name.
    label: &'static str,
    /// The last digits of their phone number.
    phone_hint: Option<String>,
    /// The operator line's number, to dial.
    line_number: Option<String>,
    /// Why call me cannot be chosen here.
    call_me_refused: Option<&'static str>,
    /// Available on the line but not dialled in: nobody can be put through.
    not_on_the_line: bool,
    /// Not rung again before then (a ring not answered), `HH:MM` UTC.
    paused_until: Option<String>,
}

impl ReachBlock {
    fn new(view: ReachView, state: PresenceState, text: &'static Text) -> ReachBlock {
        let call_me = view.reach == Reach::CallMe;
        ReachBlock {
            call_me,
            label: if call_me {
                text.get("operator.reach_call_me")
            } else {
                text.get("operator.reach_line")
            },
            phone_hint: view.phone_hint,
            line_number: view.line_number,
            call_me_refused: view.call_me_refused,
            not_on_the_line: !call_me && state == PresenceState::Available && !view.on_a_call,
            paused_until: view.paused_until.map(|until| until.format("%H:%M UTC").to_string()),
        }
    }
}

/// The outcome of a claim, shown once after it.
enum Claim {
    Reserved(CaseNumber),
    NobodyWaiting,
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
struct NoFields {}

#[derive(Debug, Deserialize)]
struct ScreenQuery {
    claimed: Option<String>,
}

/// `GET /console/operator`.
async fn screen(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Query(query): Query<ScreenQuery>,
) -> Result<Html<String>, PageError> {
    let actor = actor(&viewer);
    let own = state.app.own_presence(&actor).await?;
    let (current, wrap_up_left) = (own.state, own.wrap_up_left);
    let claimed = match query.claimed.as_deref() {
        Some("none") => Some(Claim::NobodyWaiting),
        Some(number) => number.parse().ok().map(Claim::Reserved),
        None => None,
    };
    let case = match state.app.own_case(&actor).await? {
        Some(number) => {
            let detail = state.app.read_case(&actor, number).await?;
            Some(CaseView::new(
                detail,
                &state.app.live().live().set,
                viewer.text,
                viewer.zone,
                state.app.recordings_playable(),
            ))
        }
        None => None,
    };
    let queues = queue_fragment(&state, &actor, viewer.text).await?;
    let reach = ReachBlock::new(state.app.own_reach(&actor).await?, current, viewer.text);
    render(&OperatorPage {
        page: viewer.page("/console/operator"),
        state: state_label(viewer.text, current),
        wrap_up_left,
        reach,
        queues,
        claimed,
        case,
        dispositions: dispositions(&state),
    })
}

fn dispositions(state: &ConsoleState) -> Vec<String> {
    state.app.config().cases.dispositions().iter().map(|d| d.as_str().to_owned()).collect()
}

fn state_label(text: &'static Text, state: PresenceState) -> &'static str {
    match state {
        PresenceState::Offline => text.get("operator.offline"),
        PresenceState::Available => text.get("operator.available"),
        PresenceState::OnCall => text.get("operator.on_call"),
        PresenceState::WrapUp => text.get("operator.wrap_up"),
        PresenceState::Break => text.get("operator.break"),
    }
}

#[derive(Debug, Deserialize)]
struct StateForm {
    #[serde(default)]
    state: String,
}

/// `POST /console/operator/state`: available, break or offline, as the API allows.
async fn set_state(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    CsrfForm(form): CsrfForm<StateForm>,
) -> Result<Response, PageError> {
    state.app.set_own_state(&actor(&viewer), &form.state).await?;
    Ok(see_other("/console/operator"))
}

#[derive(Debug, Deserialize)]
struct ReachForm {
    #[serde(default)]
    mode: String,
    /// A new phone number; empty keeps the one set.
    #[serde(default)]
    phone: String,
    /// Present to remove the phone number.
    #[serde(default)]
    forget_phone: Option<String>,
}

/// `POST /console/operator/reach`: on the line or call me, and the phone number to ring.
async fn set_reach(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    CsrfForm(form): CsrfForm<ReachForm>,
) -> Result<Response, PageError> {
    let phone = match (&form.forget_phone, form.phone.trim()) {
        (Some(_), _) => Some(""),
        (None, "") => None,
        (None, phone) => Some(phone),
    };
    state.app.set_own_reach(&actor(&viewer), &form.mode, phone).await?;
    Ok(see_other("/console/operator"))
}

/// `POST /console/operator/claim`: reserves the next caller for the operator's dial-in.
async fn claim(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    match state.app.claim_next(&actor(&viewer)).await {
        Ok((entry, _)) => Ok(see_other(&format!("/console/operator?claimed={}", entry.case))),
        Err(AppError::NotFound(_)) => Ok(see_other("/console/operator?claimed=none")),
        Err(other) => Err(other.into()),
    }
}

/// `GET /console/operator/queues/events`: the live queue, sent when it changes.
async fn queue_events(State(state): State<Arc<ConsoleState>>, viewer: Viewer) -> Response {
    let actor = actor(&viewer);
    let text = viewer.text;
    let source = state.clone();
    live::fragments(state, &viewer, QUEUE_REFRESH, move || {
        let state = source.clone();
        let actor = actor.clone();
        async move { queue_fragment(&state, &actor, text).await }
    })
    .into_response()
}

/// The live queue's HTML.
#[derive(Template)]
#[template(path = "console/operator_queues.html")]
struct QueueFragment {
    text: &'static Text,
    queues: Vec<QueueView>,
}

impl QueueFragment {
    fn t<'a>(&self, key: &'a str) -> &'a str
    where
        'static: 'a,
    {
        self.text.get(key)
    }
}

struct QueueView {
    language: String,
    estimate: Option<String>,
    /// Callers waiting for an operator: not those being connected to one.
    waiting: usize,
    /// Callers being connected to an operator.
    connecting: usize,
    callers: Vec<CallerView>,
}

struct CallerView {
    case: String,
    position: Option<u32>,
    connecting: bool,
    waited: String,
    caller_language: Option<String>,
    tags: Vec<String>,
    repeat_caller: bool,
    interpreter_needed: bool,
    /// Seconds left of the viewer's claim on this caller, and the same as a clock.
    reserved_for_you: Option<(i64, String)>,
}

async fn queue_fragment(
    state: &ConsoleState,
    actor: &Actor,
    text: &'static Text,
) -> Result<String, PageError> {
    let queues = state.app.language_queues(actor).await?;
    let scripts = state.app.live().live().set;
    let queues = queues.into_iter().map(|queue| QueueView::new(queue, &scripts, text)).collect();
    Ok(render(&QueueFragment { text, queues })?.0)
}

impl QueueView {
    fn new(queue: LanguageQueue, scripts: &ScriptSet, text: &Text) -> QueueView {
        let callers = queue
            .callers
            .into_iter()
            .map(|caller| {
                let script =
                    scripts.script(caller.caller_language.as_ref().unwrap_or(&queue.language));
                CallerView {
                    case: caller.case,
                    position: caller.position,
                    connecting: caller.state == EntryState::Connecting,
                    waited: clock(caller.wait_secs),
                    caller_language: caller.caller_language.map(|l| l.to_string()),
                    tags: script.map(|s| choice_labels(text, s, &caller.tags)).unwrap_or_default(),
                    repeat_caller: caller.repeat_caller,
                    interpreter_needed: caller.interpreter_needed,
                    reserved_for_you: caller.reserved_for_you_secs.map(|secs| (secs, clock(secs))),
                }
            })
            .collect::<Vec<_>>();
        let connecting = callers.iter().filter(|caller| caller.connecting).count();
        QueueView {
            language: queue.language.to_string(),
            estimate: queue.estimated_wait_secs.map(clock),
            waiting: callers.len() - connecting,
            connecting,
            callers,
        }
    }
}

/// Seconds as `m:ss`, as the timelines show waits and lengths.
pub(super) use crate::domain::timeline::clock;

/// A case as the operator's screen shows it.
struct CaseView {
    number: String,
    language: String,
    started: String,
    /// The outcome's machine name.
    outcome_name: &'static str,
    /// The outcome in the viewer's language.
    outcome: String,
    closed: bool,
    disposition: Option<String>,
    whisper: String,
    tags: Vec<String>,
    timeline: Vec<TimelineLine>,
    earlier: Vec<String>,
    notes: Vec<NoteView>,
    /// Whether the case has a voicemail, which plays from the case's route.
    has_voicemail: bool,
    /// Whether it plays here (through the server), or only at the provider.
    playable: bool,
}

/// A line of the timeline as this screen shows it: no recording, prompt or operator named.
struct TimelineLine {
    at: String,
    what: String,
    detail: String,
}

struct NoteView {
    author: String,
    at: String,
    text: String,
}

impl CaseView {
    fn new(
        detail: CaseDetail,
        scripts: &ScriptSet,
        text: &'static Text,
        zone: LineZone,
        playable: bool,
    ) -> CaseView {
        let whisper = Whisper::of_case(&detail, scripts).text();
        let script = detail.language.as_ref().and_then(|l| scripts.script(l));
        CaseView {
            number: detail.number.to_string(),
            language: detail.language.as_ref().map_or_else(|| "—".to_owned(), |l| l.to_string()),
            started: zone.show(detail.started_at, Stamp::Minute),
            outcome_name: detail.outcome.as_str(),
            outcome: super::cases::outcome_text(text, detail.outcome),
            closed: detail.closed,
            disposition: detail.disposition.as_ref().map(|d| d.as_str().to_owned()),
            whisper,
            tags: script.map(|s| choice_labels(text, s, &detail.tags)).unwrap_or_default(),
            timeline: timeline(&detail.timeline)
                .into_iter()
                .filter(|line| line.what.on_operator_screen())
                .map(|line| TimelineLine {
                    at: zone.show(line.at, Stamp::Clock),
                    what: super::cases::what_text(text, line.what),
                    detail: line.detail,
                })
                .collect(),
            earlier: detail.repeat_cases.iter().map(ToString::to_string).collect(),
            notes: detail
                .notes
                .into_iter()
                .map(|note| NoteView {
                    author: note.author.name,
                    at: zone.show(note.at, Stamp::Minute),
                    text: note.text,
                })
                .collect(),
            has_voicemail: detail.voicemail_url.is_some(),
            playable,
        }
    }
}

#[derive(Debug, Deserialize)]
struct OpenForm {
    #[serde(default)]
    number: String,
}

/// `GET /console/operator/case?number=…`: the form that opens a case by its number.
async fn open_case(_viewer: Viewer, Query(form): Query<OpenForm>) -> Result<Response, PageError> {
    let number: CaseNumber = form.number.trim().parse().map_err(PageError::BadRequest)?;
    Ok(see_other(&format!("/console/operator/case/{number}")))
}

#[derive(Template)]
#[template(path = "console/operator_case.html")]
struct CasePage {
    page: Page,
    case: CaseView,
    dispositions: Vec<String>,
    /// After a close: what the case was closed with, as stored.
    recorded: Option<Recorded>,
}

/// What a close recorded, read back from the case: shown once after it, so the operator
/// sees what stays of their work.
struct Recorded {
    /// The disposition.
    disposition: String,
    /// The caller's choices, as the script labels them.
    tags: Vec<String>,
    /// How many notes the case keeps.
    notes: usize,
}

#[derive(Debug, Deserialize)]
struct CaseQuery {
    closed: Option<String>,
}

/// `GET /console/operator/case/{number}`: a case the viewer may see, read as the API reads
/// it (audited); any other number is the API's 404. With `?closed=1` (where a close leads),
/// it confirms what was recorded, read back from the case itself.
async fn case_page(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(number): Path<String>,
    Query(query): Query<CaseQuery>,
) -> Result<Html<String>, PageError> {
    let just_closed = match query.closed.as_deref() {
        None => false,
        Some("1") => true,
        Some(_) => return Err(PageError::BadRequest("closed must be 1".into())),
    };
    let number: CaseNumber = number.parse().map_err(PageError::BadRequest)?;
    let detail = state.app.read_case(&actor(&viewer), number).await?;
    let disposition = detail
        .disposition
        .as_ref()
        .filter(|_| just_closed && detail.closed)
        .map(|d| d.as_str().to_owned());
    let case = CaseView::new(
        detail,
        &state.app.live().live().set,
        viewer.text,
        viewer.zone,
        state.app.recordings_playable(),
    );
    let recorded = disposition.map(|disposition| Recorded {
        disposition,
        tags: case.tags.clone(),
        notes: case.notes.len(),
    });
    render(&CasePage {
        page: viewer.page("/console/operator"),
        case,
        dispositions: dispositions(&state),
        recorded,
    })
}

/// Where a case form returns: the operator's screen when posted from there, else the case.
fn back(from: Option<&str>, number: CaseNumber) -> String {
    match from {
        Some("operator") => "/console/operator".to_owned(),
        _ => format!("/console/operator/case/{number}"),
    }
}

#[derive(Debug, Deserialize)]
struct NoteForm {
    #[serde(default)]
    text: String,
    from: Option<String>,
}

/// `POST /console/operator/case/{number}/notes`.
async fn add_note(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(number): Path<String>,
    CsrfForm(form): CsrfForm<NoteForm>,
) -> Result<Response, PageError> {
    let number: CaseNumber = number.parse().map_err(PageError::BadRequest)?;
    state.app.add_note(&actor(&viewer), number, &form.text).await?;
    Ok(see_other(&back(form.from.as_deref(), number)))
}

#[derive(Debug, Deserialize)]
struct DispositionForm {
    #[serde(default)]
    disposition: String,
    close: Option<String>,
    from: Option<String>,
}

/// `POST /console/operator/case/{number}/disposition`: sets it, and with `close=true`
/// closes the case and shows it, confirming the disposition recorded. The form's list
/// starts on an empty choice, and an empty one is refused (400): nothing is recorded that
/// the operator did not choose.
async fn set_disposition(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(number): Path<String>,
    CsrfForm(form): CsrfForm<DispositionForm>,
) -> Result<Response, PageError> {
    let close = match form.close.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(PageError::BadRequest("close must be true or false".into())),
    };
    let number: CaseNumber = number.parse().map_err(PageError::BadRequest)?;
    let actor = actor(&viewer);
    state.app.set_disposition(&actor, number, &form.disposition, close).await?;
    if close {
        return Ok(see_other(&format!("/console/operator/case/{number}?closed=1")));
    }
    Ok(see_other(&back(form.from.as_deref(), number)))
}

/// The longest note, for the form's `maxlength`.
const NOTE_MAX: usize = MAX_NOTE_CHARS;

impl OperatorPage {
    fn note_max(&self) -> usize {
        NOTE_MAX
    }
}

impl CasePage {
    fn note_max(&self) -> usize {
        NOTE_MAX
    }
}
