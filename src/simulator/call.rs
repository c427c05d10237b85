//! Acting out one call: what the caller hears and does with each document, and which request
//! follows, as the provider would. It sends through a [`Transport`], so tests can play the
//! server without HTTP.
//!
//! The walk is `async` so that one definition serves both the terminal, whose transport
//! answers at once (driven by [`super::block_on`]), and the load benchmark, which keeps
//! thousands of calls in progress as tasks over a few connections. It is generic over the
//! transport, input and output so that a call's future is `Send` whenever they are.

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::sync::Arc;
use std::time::Instant;

use super::documents::Cached;
use super::http::Transport;
use super::twiml::{self, CallVerb, Gather, Method, Prompt, Target, WaitVerb};
use super::{CallEnd, CallOptions, Heard, Press, SimulatorError, Transcript, excerpt, url};

/// Where a call starts.
const INCOMING_PATH: &str = "/voice/incoming";
/// Where the provider reports the end of a call.
const STATUS_PATH: &str = "/voice/status";
/// Where an operator's call to the operator line starts.
const OPERATOR_PATH: &str = "/voice/operator";
/// Where the provider reports the end of an operator's call.
const OPERATOR_STATUS_PATH: &str = "/voice/operator/status";
/// The longest silence an operator's phone keeps in real time (the operator line paces its
/// looks at an empty queue with pauses).
const MAX_OPERATOR_PAUSE_SECS: u32 = 30;

/// Which phone of the hotline the simulated call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A caller, on the hotline's number.
    Caller,
    /// An operator, on the operator line: a `<Dial>` of a caller's own queue (`c-…`) is
    /// answered by that caller, and they talk for `talk_secs` (asked at the terminal in
    /// interactive mode); pauses are kept in real time.
    Operator {
        /// Seconds of a scripted talk.
        talk_secs: u32,
    },
}

/// Whether a `<Dial>` target is a caller's own queue, which holds that caller.
fn is_callers_queue(target: &str) -> bool {
    target.strip_prefix("Queue ").is_some_and(|queue| queue.starts_with("c-"))
}
/// The provider's API version, sent with every request.
const API_VERSION: &str = "2010-04-01";
/// The recording length the simulated caller "speaks", in seconds.
const RECORDING_SECONDS: &str = "4";
/// The largest queue the provider keeps by default, reported as `MaxQueueSize`.
const MAX_QUEUE_SIZE: &str = "1000";
/// The longest line of terminal input kept; the rest of a longer line is skipped.
const MAX_LINE_BYTES: usize = 1024;

/// Places the call described by `options` through `transport`; see [`super::run`].
pub(crate) async fn run<T, I, O>(
    options: &CallOptions,
    transport: &mut T,
    input: &mut I,
    out: &mut O,
) -> Result<Transcript, SimulatorError>
where
    T: Transport + ?Sized,
    I: BufRead + ?Sized,
    O: Write + ?Sized,
{
    run_side(options, Side::Caller, Vec::new(), false, transport, input, out).await
}

/// Places the call described by `options` through `transport`, scripted, printing nothing and
/// noting nothing heard: the load benchmark wants only how each call ends, at the least cost.
pub(crate) async fn run_quiet<T>(
    options: &CallOptions,
    transport: &mut T,
) -> Result<Transcript, SimulatorError>
where
    T: Transport + ?Sized,
{
    let (mut input, mut out) = (io::empty(), io::sink());
    run_side(options, Side::Caller, Vec::new(), true, transport, &mut input, &mut out).await
}

/// Places the call of `side`; `first` are pressed before anything else (an operator's ID and
/// PIN), whatever the mode, each shown as typed or, when marked secret, masked. A `quiet`
/// call prints nothing and leaves its transcript's `heard` empty.
pub(crate) async fn run_side<T, I, O>(
    options: &CallOptions,
    side: Side,
    first: Vec<(Press, bool)>,
    quiet: bool,
    transport: &mut T,
    input: &mut I,
    out: &mut O,
) -> Result<Transcript, SimulatorError>
where
    T: Transport + ?Sized,
    I: BufRead + ?Sized,
    O: Write + ?Sized,
{
    let invalid = |reason| SimulatorError::InvalidUrl { url: options.base_url.clone(), reason };
    let (start, status) = match side {
        Side::Caller => (INCOMING_PATH, STATUS_PATH),
        Side::Operator { .. } => (OPERATOR_PATH, OPERATOR_STATUS_PATH),
    };
    let incoming = url::join(&options.base_url, start).map_err(invalid)?;
    let status_url = url::join(&options.base_url, status).map_err(invalid)?;
    let call_sid = match &options.call_sid {
        Some(sid) => sid.clone(),
        None => random_sid("CA")?,
    };
    // The caller's own number, typed by the user: the one place it is printed.
    if !quiet {
        writeln!(out, "→ calling {} from {} (CallSid {call_sid})", options.base_url, options.from)?;
    }
    let caller = match &options.presses {
        Some(presses) => Caller::Scripted(presses.iter().cloned().collect()),
        None => Caller::Interactive(input),
    };
    let mut call = Call {
        options,
        side,
        first: first.into(),
        transport,
        caller,
        out,
        account_sid: random_sid("AC")?,
        call_sid,
        started: Instant::now(),
        requests: 0,
        answered: false,
        heard: Vec::new(),
        params: Vec::new(),
        call_params_len: 0,
        params_status: "",
        quiet,
        held_keys: None,
    };
    let outcome = call.converse(incoming).await.and_then(|end| {
        if !quiet {
            call.print_end(&end)?;
        }
        Ok(end)
    });
    // The provider reports the end of every call the server answered, however it ended; a
    // server that never answered has no call to close.
    let status = if call.answered { call.send_status(&status_url).await } else { Ok(()) };
    let end = outcome?;
    status?;
    Ok(Transcript { call_sid: call.call_sid, heard: call.heard, end, requests: call.requests })
}

/// One request to make: the URL, resolved, and the parameters beyond the call's own.
#[derive(Debug, Clone)]
struct Request {
    url: String,
    method: Method,
    params: Vec<(String, String)>,
}

impl Request {
    /// A request to `target`, as named in the document at `document_url`.
    fn to(
        document_url: &str,
        target: &Target,
        params: Vec<(String, String)>,
    ) -> Result<Request, SimulatorError> {
        let url = match &target.url {
            None => document_url.to_owned(),
            Some(reference) => url::resolve(document_url, reference)
                .map_err(|reason| SimulatorError::InvalidUrl { url: reference.clone(), reason })?,
        };
        Ok(Request { url, method: target.method, params })
    }
}

/// What a call document leads to.
enum Step {
    /// Another document.
    Fetch(Request),
    /// The end of the call.
    End(CallEnd),
}

/// What a round of a queue's wait document leads to.
enum WaitStep {
    /// Another wait document in the same round (a redirect, a gather's action).
    Fetch(Request),
    /// The document ran out: the provider fetches the wait URL again.
    RoundOver,
    /// The caller is out of the queue.
    Exit(QueueExit),
}

/// What a caller on hold does when a round of the wait is over.
enum OnHold {
    /// Waits on.
    Wait,
    /// Presses these keys, heard only if the wait's document listens for keys.
    Press(String),
    /// Hangs up.
    HangUp,
}

/// How a caller got out of a queue.
enum QueueExit {
    /// `<Leave>`: the call goes on.
    Left,
    /// Someone hung up.
    HungUp(CallEnd),
}

/// What a `<Gather>` leads to.
enum AfterGather {
    /// The next verb (a timeout without `actionOnEmptyResult`).
    Continue,
    /// The action, with the digits.
    Fetch(Request),
    /// The caller hung up.
    HangUp,
}

/// Who presses the keys.
enum Caller<'a, I: ?Sized> {
    /// The presses left of a script.
    Scripted(VecDeque<Press>),
    /// A person at the terminal.
    Interactive(&'a mut I),
}

impl<I: BufRead + ?Sized> Caller<'_, I> {
    /// The caller's answer to a `<Gather>`.
    fn next_press<O: Write + ?Sized>(
        &mut self,
        out: &mut O,
        in_queue: bool,
    ) -> Result<Press, SimulatorError> {
        match self {
            Caller::Scripted(presses) => match presses.pop_front() {
                Some(press) => Ok(press),
                // In a queue the caller is there to wait, which `queue_waits` bounds: a
                // gather in the wait music does not make them hang up.
                None if in_queue => Ok(Press::Silence),
                None => {
                    writeln!(out, "  (no presses left: hanging up)")?;
                    Ok(Press::Hangup)
                }
            },
            Caller::Interactive(input) => {
                ask_press(*input, out, "press keys (Enter = silence, h = hang up)> ")
            }
        }
    }

    /// What the caller does on hold, having heard `rounds` of the wait: waits on, presses
    /// keys (a person at the terminal, as on any prompt), or hangs up.
    fn on_hold<O: Write + ?Sized>(
        &mut self,
        rounds: u32,
        queue_waits: u32,
        out: &mut O,
    ) -> Result<OnHold, SimulatorError> {
        match self {
            Caller::Scripted(_) => {
                if rounds < queue_waits {
                    return Ok(OnHold::Wait);
                }
                writeln!(out, "  (waited {rounds} round(s) in the queue: hanging up)")?;
                Ok(OnHold::HangUp)
            }
            Caller::Interactive(_) if rounds == 0 => Ok(OnHold::Wait),
            Caller::Interactive(input) => {
                let prompt =
                    "still waiting (Enter = keep waiting, keys = press them, h = hang up)> ";
                Ok(match ask_press(*input, out, prompt)? {
                    Press::Keys(keys) => OnHold::Press(keys),
                    Press::Silence => OnHold::Wait,
                    Press::Hangup => OnHold::HangUp,
                })
            }
        }
    }
}

/// Asks the person at the terminal what to press after `prompt`, until they say something
/// that can be pressed: Enter is silence, `h` or the end of input hangs up.
fn ask_press<I: BufRead + ?Sized, O: Write + ?Sized>(
    input: &mut I,
    out: &mut O,
    prompt: &str,
) -> Result<Press, SimulatorError> {
    loop {
        write!(out, "{prompt}")?;
        out.flush()?;
        let Some(line) = read_line(input)? else {
            writeln!(out)?;
            return Ok(Press::Hangup);
        };
        let line = line.trim();
        if line.is_empty() {
            return Ok(Press::Silence);
        }
        if line.eq_ignore_ascii_case("h") {
            return Ok(Press::Hangup);
        }
        match line.parse() {
            Ok(press) => return Ok(press),
            Err(message) => writeln!(out, "  {message}")?,
        }
    }
}

/// A call in progress.
struct Call<'a, T: ?Sized, I: ?Sized, O: ?Sized> {
    options: &'a CallOptions,
    /// Which phone this is.
    side: Side,
    /// Presses made before the caller's own, and whether each is secret (a PIN).
    first: VecDeque<(Press, bool)>,
    transport: &'a mut T,
    caller: Caller<'a, I>,
    out: &'a mut O,
    call_sid: String,
    account_sid: String,
    started: Instant,
    /// TwiML requests made so far.
    requests: u32,
    /// Whether the server has answered at least once.
    answered: bool,
    heard: Vec<Heard>,
    /// The parameters of the request being sent: the call's own for `params_status` (its
    /// first `call_params_len`), then the request's; kept from one request to the next.
    params: Vec<(String, String)>,
    call_params_len: usize,
    params_status: &'static str,
    /// Whether the caller wants neither the transcript nor the lines printed.
    quiet: bool,
    /// Keys the caller on hold pressed between two rounds of the wait: the next `<Gather>`
    /// of the wait takes them, as the provider's would; a round without one leaves them
    /// unheard.
    held_keys: Option<String>,
}

impl<T, I, O> Call<'_, T, I, O>
where
    T: Transport + ?Sized,
    I: BufRead + ?Sized,
    O: Write + ?Sized,
{
    /// Fetches and acts out documents from the voice URL on, until the call ends.
    async fn converse(&mut self, incoming: String) -> Result<CallEnd, SimulatorError> {
        let mut next = Request { url: incoming, method: Method::Post, params: Vec::new() };
        loop {
            let verbs = self.fetch::<CallVerb>(&next).await?;
            match self.act_out(verbs, &next.url).await? {
                Step::Fetch(request) => next = request,
                Step::End(end) => return Ok(end),
            }
        }
    }

    /// Sends `request` with the call's parameters and reads the answer as a document of `V`s.
    async fn fetch<V: Cached>(&mut self, request: &Request) -> Result<Arc<[V]>, SimulatorError> {
        if self.requests >= self.options.max_requests {
            return Err(SimulatorError::TooManyRequests { limit: self.options.max_requests });
        }
        let status = if self.requests == 0 { "ringing" } else { "in-progress" };
        // The call's own parameters change only with the status (ringing, then in-progress):
        // they are built twice a call, not for every request.
        if self.params_status != status {
            self.params = self.call_params(status);
            self.call_params_len = self.params.len();
            self.params_status = status;
        }
        self.params.truncate(self.call_params_len);
        self.params.extend(request.params.iter().cloned());
        self.requests += 1;
        let reply = self.transport.send(&request.url, request.method, &self.params).await?;
        self.answered = true;
        let twiml_error = |reason: String| SimulatorError::Twiml {
            url: request.url.clone(),
            status: reply.status,
            reason,
            body: excerpt(&reply.body),
        };
        if reply.status != 200 {
            return Err(SimulatorError::Status {
                url: request.url.clone(),
                status: reply.status,
                body: excerpt(&reply.body),
            });
        }
        let mime = reply.content_type.as_deref().and_then(|ct| ct.split(';').next()).map(str::trim);
        if !mime.is_some_and(|m| {
            m.eq_ignore_ascii_case("text/xml") || m.eq_ignore_ascii_case("application/xml")
        }) {
            return Err(twiml_error(format!(
                "Content-Type {:?} is not text/xml or application/xml",
                reply.content_type.as_deref().unwrap_or("(none)")
            )));
        }
        match self.transport.documents() {
            Some(documents) => documents.parse(&reply.body),
            None => twiml::parse(&reply.body).map(Arc::from),
        }
        .map_err(twiml_error)
    }

    /// Acts out a call document from `document_url`.
    async fn act_out(
        &mut self,
        verbs: Arc<[CallVerb]>,
        document_url: &str,
    ) -> Result<Step, SimulatorError> {
        for verb in verbs.iter() {
            match verb {
                CallVerb::Prompt(prompt) => self.hear(prompt)?,
                CallVerb::Gather(gather) => match self.gather(gather, document_url, false)? {
                    AfterGather::Continue => {}
                    AfterGather::Fetch(request) => return Ok(Step::Fetch(request)),
                    AfterGather::HangUp => return Ok(Step::End(CallEnd::CallerHungUp)),
                },
                CallVerb::Redirect(target) => {
                    return Ok(Step::Fetch(Request::to(document_url, target, Vec::new())?));
                }
                CallVerb::Record { action, max_length } => {
                    self.note(
                        || Heard::Recording { max_length: *max_length },
                        || format!("  ● recording (max {max_length} s)…"),
                    )?;
                    let recording_url = format!(
                        "https://api.twilio.com/{API_VERSION}/Accounts/{}/Recordings/{}",
                        self.account_sid,
                        random_sid("RE")?
                    );
                    let params = pairs(&[
                        ("RecordingUrl", &recording_url),
                        ("RecordingDuration", RECORDING_SECONDS),
                        ("Digits", "#"),
                    ]);
                    return Ok(Step::Fetch(Request::to(document_url, action, params)?));
                }
                CallVerb::Enqueue(enqueue) => {
                    let queue_sid = random_sid("QU")?;
                    let entered = Instant::now();
                    let exit =
                        self.wait_in_queue(enqueue, document_url, &queue_sid, entered).await?;
                    let (result, end) = match exit {
                        QueueExit::Left => ("leave", None),
                        QueueExit::HungUp(end) => ("hangup", Some(end)),
                    };
                    let waited = entered.elapsed().as_secs().to_string();
                    let params = pairs(&[
                        ("QueueResult", result),
                        ("QueueSid", &queue_sid),
                        ("QueueTime", &waited),
                    ]);
                    match (&enqueue.action, end) {
                        (Some(action), None) => {
                            return Ok(Step::Fetch(Request::to(document_url, action, params)?));
                        }
                        (Some(action), Some(end)) => {
                            // The provider reports the outcome, but nobody is left to hear the
                            // answer: it is only checked.
                            let request = Request::to(document_url, action, params)?;
                            self.fetch::<CallVerb>(&request).await?;
                            return Ok(Step::End(end));
                        }
                        (None, Some(end)) => return Ok(Step::End(end)),
                        (None, None) => {}
                    }
                }
                CallVerb::Dial { target, action }
                    if matches!(self.side, Side::Operator { .. }) && is_callers_queue(target) =>
                {
                    let talked = self.talk(target)?;
                    if let Some(action) = action {
                        let talked = talked.to_string();
                        let params = pairs(&[
                            ("DialCallStatus", "completed"),
                            ("DialCallSid", &random_sid("CA")?),
                            ("DialCallDuration", &talked),
                        ]);
                        return Ok(Step::Fetch(Request::to(document_url, action, params)?));
                    }
                }
                CallVerb::Dial { target, action } => {
                    self.note(
                        || Heard::Dialed { target: target.clone() },
                        || {
                            format!(
                                "  ☏ dialling {}: nobody answers in the simulator",
                                clean(target)
                            )
                        },
                    )?;
                    if let Some(action) = action {
                        let params = pairs(&[
                            ("DialCallStatus", "no-answer"),
                            ("DialCallSid", &random_sid("CA")?),
                            ("DialCallDuration", "0"),
                        ]);
                        return Ok(Step::Fetch(Request::to(document_url, action, params)?));
                    }
                }
                CallVerb::Hangup => return Ok(Step::End(CallEnd::HungUpByServer)),
                CallVerb::Reject { reason } => {
                    return Ok(Step::End(CallEnd::Rejected { reason: reason.clone() }));
                }
            }
        }
        Ok(Step::End(CallEnd::DocumentEnded))
    }

    /// Keeps the caller in `enqueue`'s queue, round after round of its wait document, until
    /// someone ends the wait.
    async fn wait_in_queue(
        &mut self,
        enqueue: &twiml::Enqueue,
        document_url: &str,
        queue_sid: &str,
        entered: Instant,
    ) -> Result<QueueExit, SimulatorError> {
        self.note(
            || Heard::Enqueued { queue: enqueue.queue.clone() },
            || format!("  ⏳ waiting in queue {}", clean(&enqueue.queue)),
        )?;
        let mut rounds = 0;
        loop {
            match self.caller.on_hold(rounds, self.options.queue_waits, &mut *self.out)? {
                OnHold::Wait => {}
                OnHold::Press(keys) => self.held_keys = Some(keys),
                OnHold::HangUp => return Ok(QueueExit::HungUp(CallEnd::CallerHungUp)),
            }
            // Without a wait URL no request counts the rounds: bound them the same way.
            if rounds >= self.options.max_requests {
                return Err(SimulatorError::TooManyRequests { limit: self.options.max_requests });
            }
            rounds += 1;
            let Some(wait) = &enqueue.wait else {
                self.note(|| Heard::HoldMusic, || "  [the provider's hold music]".into())?;
                self.unheard_keys()?;
                continue;
            };
            let mut next = Request::to(document_url, wait, Vec::new())?;
            loop {
                // Every request of the wait carries where the caller stands.
                let mut request = next.clone();
                request.params.extend(self.queue_params(queue_sid, entered));
                let verbs = self.fetch::<WaitVerb>(&request).await?;
                let step = self.act_out_wait(verbs, &next.url)?;
                if !matches!(step, WaitStep::Fetch(_)) {
                    self.unheard_keys()?;
                }
                match step {
                    WaitStep::Fetch(request) => next = request,
                    WaitStep::RoundOver => break,
                    WaitStep::Exit(exit) => return Ok(exit),
                }
            }
        }
    }

    /// Says that keys pressed on hold found nothing listening: the round of the wait had no
    /// `<Gather>` (or the provider's own music played), so the provider dropped them.
    fn unheard_keys(&mut self) -> Result<(), SimulatorError> {
        if let Some(keys) = self.held_keys.take() {
            writeln!(self.out, "  (nothing in the wait listens for keys: {keys} went unheard)")?;
        }
        Ok(())
    }

    /// Acts out a wait document from `document_url`.
    fn act_out_wait(
        &mut self,
        verbs: Arc<[WaitVerb]>,
        document_url: &str,
    ) -> Result<WaitStep, SimulatorError> {
        for verb in verbs.iter() {
            match verb {
                WaitVerb::Prompt(prompt) => self.hear(prompt)?,
                WaitVerb::Gather(gather) => match self.gather(gather, document_url, true)? {
                    AfterGather::Continue => {}
                    AfterGather::Fetch(request) => return Ok(WaitStep::Fetch(request)),
                    AfterGather::HangUp => {
                        return Ok(WaitStep::Exit(QueueExit::HungUp(CallEnd::CallerHungUp)));
                    }
                },
                WaitVerb::Redirect(target) => {
                    return Ok(WaitStep::Fetch(Request::to(document_url, target, Vec::new())?));
                }
                WaitVerb::Hangup => {
                    return Ok(WaitStep::Exit(QueueExit::HungUp(CallEnd::HungUpByServer)));
                }
                WaitVerb::Leave => {
                    self.note(
                        || Heard::LeftQueue,
                        || "  ⏳ the hotline took you out of the queue".into(),
                    )?;
                    return Ok(WaitStep::Exit(QueueExit::Left));
                }
            }
        }
        Ok(WaitStep::RoundOver)
    }

    /// Plays a `<Gather>`'s prompts and takes the caller's answer.
    fn gather(
        &mut self,
        gather: &Gather,
        document_url: &str,
        in_queue: bool,
    ) -> Result<AfterGather, SimulatorError> {
        for prompt in &gather.prompts {
            self.hear(prompt)?;
        }
        // Keys pressed on hold answer the wait's first `<Gather>`.
        let held = if in_queue { self.held_keys.take() } else { None };
        let (press, secret) = match held {
            Some(keys) => (Press::Keys(keys), false),
            None => match self.first.pop_front() {
                Some(first) => first,
                None => (self.caller.next_press(&mut *self.out, in_queue)?, false),
            },
        };
        let digits = match press {
            Press::Hangup => return Ok(AfterGather::HangUp),
            Press::Silence => {
                self.note(|| Heard::Silence, || "  ⌨ (silence)".into())?;
                String::new()
            }
            Press::Keys(keys) => {
                self.note(
                    || Heard::Pressed { keys: keys.clone() },
                    || {
                        let shown =
                            if secret { "•".repeat(keys.chars().count()) } else { keys.clone() };
                        format!("  ⌨ {shown}")
                    },
                )?;
                if gather.takes_keys {
                    gather.digits(&keys)
                } else {
                    writeln!(
                        self.out,
                        "  (this <Gather> listens for speech only: the keys are ignored)"
                    )?;
                    String::new()
                }
            }
        };
        // Without keys the provider times out and moves on, unless told to report it.
        if digits.is_empty() && !gather.action_on_empty_result {
            return Ok(AfterGather::Continue);
        }
        let params = pairs(&[("Digits", &digits)]);
        Ok(AfterGather::Fetch(Request::to(document_url, &gather.action, params)?))
    }

    /// Plays a prompt to the caller.
    fn hear(&mut self, prompt: &Prompt) -> Result<(), SimulatorError> {
        match prompt {
            Prompt::Say { text, voice, language, loops } => {
                let heard = || Heard::Say {
                    text: text.clone(),
                    voice: voice.clone(),
                    language: language.clone(),
                };
                self.note(heard, || {
                    let tag: Vec<&str> =
                        [language, voice].into_iter().flatten().map(String::as_str).collect();
                    let tag = if tag.is_empty() {
                        "default voice".to_owned()
                    } else {
                        clean(&tag.join(" "))
                    };
                    format!("  [{tag}] {}{}", clean(text), repeats(*loops))
                })
            }
            Prompt::Play { url, loops } => self.note(
                || Heard::Play { url: url.clone() },
                || format!("  [plays {}]{}", clean(url), repeats(*loops)),
            ),
            Prompt::Pause { seconds } => {
                // A blocking sleep, on purpose: only an operator's phone keeps pauses, and
                // only the terminal's `run_operator` places an operator's call; the callers
                // the load benchmark runs as tasks never sleep here.
                if matches!(self.side, Side::Operator { .. }) {
                    let kept = (*seconds).min(MAX_OPERATOR_PAUSE_SECS);
                    std::thread::sleep(std::time::Duration::from_secs(u64::from(kept)));
                }
                self.note(
                    || Heard::Pause { seconds: *seconds },
                    || format!("  [pause {seconds} s]"),
                )
            }
        }
    }

    /// The operator is put through to the caller of `target`: they talk for the scripted
    /// time, or until Enter at the terminal. The seconds of talk.
    fn talk(&mut self, target: &str) -> Result<u32, SimulatorError> {
        self.note(
            || Heard::Dialed { target: target.to_owned() },
            || format!("  ☏ {}: connected to the caller", clean(target)),
        )?;
        let scripted = match self.side {
            Side::Operator { talk_secs } => talk_secs.max(1),
            Side::Caller => 1,
        };
        match &mut self.caller {
            Caller::Scripted(_) => {
                writeln!(self.out, "  (talking for {scripted} s)")?;
                Ok(scripted)
            }
            Caller::Interactive(input) => {
                let began = Instant::now();
                write!(self.out, "talking to the caller (Enter = end the talk)> ")?;
                self.out.flush()?;
                read_line(*input)?;
                Ok(u32::try_from(began.elapsed().as_secs()).unwrap_or(u32::MAX).max(1))
            }
        }
    }

    /// Records what the caller heard and prints its line; a quiet call does neither, so
    /// neither is built.
    fn note(
        &mut self,
        heard: impl FnOnce() -> Heard,
        line: impl FnOnce() -> String,
    ) -> Result<(), SimulatorError> {
        if self.quiet {
            return Ok(());
        }
        writeln!(self.out, "{}", line())?;
        self.heard.push(heard());
        Ok(())
    }

    /// The parameters the provider sends with every request of this call.
    fn call_params(&self, status: &str) -> Vec<(String, String)> {
        let options = self.options;
        let mut params = pairs(&[
            ("CallSid", &self.call_sid),
            ("AccountSid", &self.account_sid),
            ("From", &options.from),
            ("Caller", &options.from),
            ("To", &options.to),
            ("CallStatus", status),
            ("ApiVersion", API_VERSION),
            ("Direction", "inbound"),
        ]);
        if let Some(country) = &options.from_country {
            params.push(("FromCountry".into(), country.clone()));
        }
        params
    }

    /// The parameters of a wait document's request: where the caller stands in the queue.
    fn queue_params(&self, queue_sid: &str, entered: Instant) -> Vec<(String, String)> {
        let waited = entered.elapsed().as_secs().to_string();
        pairs(&[
            // The simulated caller is alone in the queue.
            ("QueuePosition", "1"),
            ("QueueSid", queue_sid),
            ("QueueTime", &waited),
            ("AvgQueueTime", &waited),
            ("CurrentQueueSize", "1"),
            ("MaxQueueSize", MAX_QUEUE_SIZE),
        ])
    }

    /// Sends the status callback that closes the call.
    async fn send_status(&mut self, status_url: &str) -> Result<(), SimulatorError> {
        let mut params = self.call_params("completed");
        let duration = self.started.elapsed().as_secs().to_string();
        let timestamp = chrono::Utc::now().to_rfc2822();
        params.extend(pairs(&[
            ("CallDuration", &duration),
            // The only callback of the call, so the first.
            ("SequenceNumber", "0"),
            ("Timestamp", &timestamp),
            ("CallbackSource", "call-progress-events"),
        ]));
        let reply = self.transport.send(status_url, Method::Post, &params).await?;
        // A status callback needs no TwiML: any success will do.
        if !(200..300).contains(&reply.status) {
            return Err(SimulatorError::Status {
                url: status_url.to_owned(),
                status: reply.status,
                body: excerpt(&reply.body),
            });
        }
        Ok(())
    }

    /// Prints how the call ended.
    fn print_end(&mut self, end: &CallEnd) -> Result<(), SimulatorError> {
        let requests = match self.requests {
            1 => "1 request".to_owned(),
            n => format!("{n} requests"),
        };
        match end {
            CallEnd::HungUpByServer => {
                writeln!(self.out, "☎ the hotline hung up after {requests}")?
            }
            CallEnd::CallerHungUp => writeln!(self.out, "☎ you hung up after {requests}")?,
            CallEnd::DocumentEnded => writeln!(
                self.out,
                "☎ the call ended after {requests}: the last document ran out of verbs"
            )?,
            CallEnd::Rejected { reason } => writeln!(
                self.out,
                "☎ the hotline rejected the call ({}) after {requests}",
                clean(reason)
            )?,
        }
        Ok(())
    }
}

/// Owned form parameters.
fn pairs(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
}

/// A note for a `loop` attribute other than 1.
fn repeats(loops: u32) -> String {
    match loops {
        0 => " (repeats until the call moves on)".to_owned(),
        1 => String::new(),
        n => format!(" (×{n})"),
    }
}

/// `text` safe to print: control characters from the server could drive the terminal.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
}

/// A provider-style SID: `prefix` and 32 random hex digits.
fn random_sid(prefix: &str) -> Result<String, SimulatorError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    // Written straight into one string: the load benchmark makes a few per call.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut sid = String::with_capacity(prefix.len() + 2 * bytes.len());
    sid.push_str(prefix);
    for byte in bytes {
        sid.push(char::from(HEX[usize::from(byte >> 4)]));
        sid.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    Ok(sid)
}

/// One line of terminal input without its line ending, at most [`MAX_LINE_BYTES`] of it;
/// `None` at the end of the input.
fn read_line<I: BufRead + ?Sized>(input: &mut I) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut read_any = false;
    loop {
        let buffer = match input.fill_buf() {
            Ok(buffer) => buffer,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buffer.is_empty() {
            return Ok(read_any.then(|| String::from_utf8_lossy(&line).into_owned()));
        }
        read_any = true;
        let newline = buffer.iter().position(|&b| b == b'\n');
        let chunk = &buffer[..newline.unwrap_or(buffer.len())];
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len() + usize::from(newline.is_some());
        input.consume(used);
        if newline.is_some() {
            let text = String::from_utf8_lossy(&line);
            return Ok(Some(text.trim_end_matches('\r').to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Reply;
    use super::*;

    /// A request the fake server received.
    #[derive(Debug)]
    struct Sent {
        url: String,
        method: Method,
        params: Vec<(String, String)>,
    }

    impl Sent {
        fn param(&self, name: &str) -> Option<&str> {
            self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
        }
    }

    /// Answers TwiML requests from a list, in order, and status callbacks with 204.
    struct FakeServer {
        answers: VecDeque<Reply>,
        sent: Vec<Sent>,
    }

    impl FakeServer {
        fn new(answers: &[&str]) -> FakeServer {
            FakeServer {
                answers: answers.iter().map(|body| twiml(body)).collect(),
                sent: Vec::new(),
            }
        }

        fn status_callbacks(&self) -> Vec<&Sent> {
            self.sent.iter().filter(|s| s.url.ends_with(STATUS_PATH)).collect()
        }

        fn twiml_requests(&self) -> Vec<&Sent> {
            self.sent.iter().filter(|s| !s.url.ends_with(STATUS_PATH)).collect()
        }
    }

    impl Transport for FakeServer {
        fn send<'a>(
            &'a mut self,
            url: &'a str,
            method: Method,
            params: &'a [(String, String)],
        ) -> crate::simulator::Sending<'a> {
            self.sent.push(Sent { url: url.to_owned(), method, params: params.to_vec() });
            let reply = if url.ends_with(STATUS_PATH) {
                Reply { status: 204, content_type: None, body: String::new() }
            } else {
                self.answers.pop_front().unwrap_or(Reply {
                    status: 404,
                    content_type: Some("text/plain".into()),
                    body: "no more answers".into(),
                })
            };
            Box::pin(std::future::ready(Ok(reply)))
        }
    }

    fn twiml(body: &str) -> Reply {
        Reply {
            status: 200,
            content_type: Some("text/xml; charset=utf-8".into()),
            body: format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{body}</Response>"),
        }
    }

    fn options(presses: Option<&str>) -> CallOptions {
        CallOptions {
            base_url: "http://127.0.0.1:8080".into(),
            auth_token: None,
            from: "+79161234567".into(),
            to: "+18005550100".into(),
            from_country: Some("RU".into()),
            call_sid: Some("CA00000000000000000000000000000001".into()),
            presses: presses.map(|p| super::super::parse_presses(p).unwrap()),
            queue_waits: 2,
            max_requests: 20,
        }
    }

    /// Runs a call against `server`, returning the result and the printed transcript.
    fn call(
        options: &CallOptions,
        server: &mut FakeServer,
        input: &str,
    ) -> (Result<Transcript, SimulatorError>, String) {
        let mut input = input.as_bytes();
        let mut out = Vec::new();
        let result = crate::simulator::run_with(options, server, &mut input, &mut out);
        (result, String::from_utf8(out).unwrap())
    }

    const MENU: &str = r#"<Gather action="/voice/language" numDigits="1">
        <Say voice="Polly.Tatyana" language="ru-RU">Для русского языка нажмите 1.</Say>
        <Play>/audio/uk/welcome.mp3</Play>
      </Gather>
      <Say>We did not hear you.</Say>"#;

    #[test]
    fn a_quiet_call_sends_the_same_requests_and_ends_the_same_way_noting_nothing() {
        let answers = [MENU, "<Say>Спасибо.</Say><Enqueue waitUrl=\"/w\">q</Enqueue>", "<Leave/>"];
        let mut loud = FakeServer::new(&answers);
        let (loud_result, printed) = call(&options(Some("1")), &mut loud, "");
        let mut quiet = FakeServer::new(&answers);
        let quiet_result =
            super::super::block_on(run_quiet(&options(Some("1")), &mut quiet)).unwrap();
        let loud_result = loud_result.unwrap();
        assert!(printed.contains("Спасибо") && !loud_result.heard.is_empty());
        assert_eq!(quiet_result.heard, []);
        assert_eq!(
            (quiet_result.end, quiet_result.requests),
            (loud_result.end, loud_result.requests)
        );
        let urls = |server: &FakeServer| -> Vec<String> {
            server.sent.iter().map(|sent| sent.url.clone()).collect()
        };
        assert_eq!(urls(&quiet), urls(&loud));
        // incoming, the language, one wait, the status callback
        assert_eq!(quiet.sent.len(), 4, "{:?}", urls(&quiet));
    }

    #[test]
    fn a_scripted_call_through_a_menu() {
        let mut server =
            FakeServer::new(&[MENU, "<Say language=\"ru-RU\">Спасибо.</Say><Hangup/>"]);
        let (result, printed) = call(&options(Some("1")), &mut server, "");
        let transcript = result.unwrap();
        assert_eq!(transcript.end, CallEnd::HungUpByServer);
        assert_eq!(transcript.requests, 2);
        assert_eq!(transcript.call_sid, "CA00000000000000000000000000000001");
        assert_eq!(
            transcript.heard,
            vec![
                Heard::Say {
                    text: "Для русского языка нажмите 1.".into(),
                    voice: Some("Polly.Tatyana".into()),
                    language: Some("ru-RU".into())
                },
                Heard::Play { url: "/audio/uk/welcome.mp3".into() },
                Heard::Pressed { keys: "1".into() },
                Heard::Say {
                    text: "Спасибо.".into(), voice: None, language: Some("ru-RU".into())
                },
            ]
        );
        assert_eq!(
            printed,
            "→ calling http://127.0.0.1:8080 from +79161234567 (CallSid CA00000000000000000000000000000001)\n\
             \x20 [ru-RU Polly.Tatyana] Для русского языка нажмите 1.\n\
             \x20 [plays /audio/uk/welcome.mp3]\n\
             \x20 ⌨ 1\n\
             \x20 [ru-RU] Спасибо.\n\
             ☎ the hotline hung up after 2 requests\n"
        );

        let requests = server.twiml_requests();
        assert_eq!(requests[0].url, "http://127.0.0.1:8080/voice/incoming");
        assert_eq!(requests[0].method, Method::Post);
        assert_eq!(requests[0].param("CallStatus"), Some("ringing"));
        assert_eq!(requests[0].param("Digits"), None);
        for request in &requests {
            assert_eq!(request.param("CallSid"), Some(transcript.call_sid.as_str()));
            assert_eq!(request.param("From"), Some("+79161234567"));
            assert_eq!(request.param("Caller"), Some("+79161234567"));
            assert_eq!(request.param("To"), Some("+18005550100"));
            assert_eq!(request.param("FromCountry"), Some("RU"));
            assert_eq!(request.param("ApiVersion"), Some("2010-04-01"));
            assert_eq!(request.param("Direction"), Some("inbound"));
            let account = request.param("AccountSid").unwrap();
            assert!(account.len() == 34 && account.starts_with("AC"), "{account}");
        }
        assert_eq!(requests[1].url, "http://127.0.0.1:8080/voice/language");
        assert_eq!(requests[1].param("CallStatus"), Some("in-progress"));
        assert_eq!(requests[1].param("Digits"), Some("1"));
        assert_eq!(requests[0].param("AccountSid"), requests[1].param("AccountSid"));

        let status = server.status_callbacks();
        assert_eq!(status.len(), 1);
        assert_eq!(status[0].url, "http://127.0.0.1:8080/voice/status");
        assert_eq!(status[0].param("CallStatus"), Some("completed"));
        assert_eq!(status[0].param("SequenceNumber"), Some("0"));
        assert_eq!(status[0].param("CallbackSource"), Some("call-progress-events"));
        assert_eq!(status[0].param("CallDuration"), Some("0"));
        let timestamp = status[0].param("Timestamp").unwrap();
        assert!(chrono::DateTime::parse_from_rfc2822(timestamp).is_ok(), "{timestamp}");
        assert_eq!(
            server.sent.last().map(|s| s.url.as_str()),
            Some("http://127.0.0.1:8080/voice/status")
        );
    }

    #[test]
    fn silence_falls_through_and_running_out_of_presses_hangs_up() {
        let mut server = FakeServer::new(&[
            &format!("{MENU}<Redirect>/voice/incoming?again=1</Redirect>"),
            MENU,
        ]);
        let (result, printed) = call(&options(Some("_")), &mut server, "");
        let transcript = result.unwrap();
        assert_eq!(transcript.end, CallEnd::CallerHungUp);
        assert_eq!(server.twiml_requests()[1].url, "http://127.0.0.1:8080/voice/incoming?again=1");
        assert!(transcript.heard.contains(&Heard::Silence));
        assert!(transcript.heard.contains(&Heard::Say {
            text: "We did not hear you.".into(),
            voice: None,
            language: None
        }));
        assert!(printed.contains("  [default voice] We did not hear you.\n"), "{printed}");
        assert!(
            printed.contains("(no presses left: hanging up)\n☎ you hung up after 2 requests\n"),
            "{printed}"
        );
        assert_eq!(server.status_callbacks().len(), 1);
    }

    #[test]
    fn a_document_that_runs_out_ends_the_call() {
        let mut server = FakeServer::new(&["<Say>Goodbye.</Say>"]);
        let (result, printed) = call(&options(Some("")), &mut server, "");
        assert_eq!(result.unwrap().end, CallEnd::DocumentEnded);
        assert!(
            printed.ends_with(
                "☎ the call ended after 1 request: the last document ran out of verbs\n"
            )
        );
    }

    #[test]
    fn keys_follow_relative_actions_finish_keys_and_methods() {
        let mut server = FakeServer::new(&[
            r#"<Gather action="step2?x=1#rc=2" method="GET"><Say>PIN</Say></Gather>"#,
            r#"<Gather><Say>Again</Say></Gather>"#,
            r#"<Gather actionOnEmptyResult="true" action="//other.example/empty"/>"#,
            "<Reject reason=\"busy\"/>",
        ]);
        let mut options = options(Some("12#9,*,#"));
        options.base_url = "http://h/hotline/".into();
        let (result, printed) = call(&options, &mut server, "");
        assert_eq!(result.unwrap().end, CallEnd::Rejected { reason: "busy".into() });
        assert!(printed.ends_with("☎ the hotline rejected the call (busy) after 4 requests\n"));
        let requests = server.twiml_requests();
        assert_eq!(requests[0].url, "http://h/hotline/voice/incoming");
        assert_eq!(
            (requests[1].url.as_str(), requests[1].method),
            ("http://h/hotline/voice/step2?x=1", Method::Get)
        );
        assert_eq!(requests[1].param("Digits"), Some("12"));
        // A Gather without an action sends the keys to its own document.
        assert_eq!(requests[2].url, requests[1].url);
        assert_eq!(requests[2].param("Digits"), Some("*"));
        assert_eq!(requests[3].url, "http://other.example/empty");
        assert_eq!(requests[3].param("Digits"), Some(""));
        assert_eq!(server.status_callbacks()[0].url, "http://h/hotline/voice/status");
    }

    #[test]
    fn a_recording_posts_a_fake_recording() {
        let mut server = FakeServer::new(&[
            r#"<Say>Leave a message.</Say><Record action="/voice/recorded" maxLength="60"/>"#,
            "<Hangup/>",
        ]);
        let (result, printed) = call(&options(Some("")), &mut server, "");
        let transcript = result.unwrap();
        assert!(transcript.heard.contains(&Heard::Recording { max_length: 60 }));
        assert!(printed.contains("  ● recording (max 60 s)…\n"), "{printed}");
        let recorded = &server.twiml_requests()[1];
        assert_eq!(recorded.url, "http://127.0.0.1:8080/voice/recorded");
        let recording_url = recorded.param("RecordingUrl").unwrap();
        let account = recorded.param("AccountSid").unwrap();
        assert!(
            recording_url.starts_with(&format!(
                "https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/RE"
            )),
            "{recording_url}"
        );
        assert_eq!(recorded.param("RecordingDuration"), Some("4"));
        assert_eq!(recorded.param("Digits"), Some("#"));
    }

    const WAIT: &str = r#"<Say>Please hold.</Say><Play loop="0">/audio/hold.mp3</Play>"#;

    #[test]
    fn a_scripted_caller_waits_in_the_queue_then_hangs_up() {
        let mut server = FakeServer::new(&[
            r#"<Enqueue action="/voice/queue-result" waitUrl="/voice/wait">support-ru</Enqueue>"#,
            WAIT,
            WAIT,
            "",
        ]);
        let (result, printed) = call(&options(Some("")), &mut server, "");
        let transcript = result.unwrap();
        assert_eq!(transcript.end, CallEnd::CallerHungUp);
        assert_eq!(transcript.requests, 4);
        assert_eq!(transcript.heard[0], Heard::Enqueued { queue: "support-ru".into() });
        assert_eq!(transcript.heard.iter().filter(|h| matches!(h, Heard::Play { .. })).count(), 2);
        assert!(printed.contains("  ⏳ waiting in queue support-ru\n"), "{printed}");
        assert!(
            printed.contains("  [plays /audio/hold.mp3] (repeats until the call moves on)\n"),
            "{printed}"
        );
        assert!(
            printed.contains("(waited 2 round(s) in the queue: hanging up)\n☎ you hung up"),
            "{printed}"
        );

        let requests = server.twiml_requests();
        let queue_sid = requests[1].param("QueueSid").unwrap().to_owned();
        assert!(queue_sid.starts_with("QU") && queue_sid.len() == 34);
        for wait in &requests[1..3] {
            assert_eq!(wait.url, "http://127.0.0.1:8080/voice/wait");
            assert_eq!(wait.param("QueuePosition"), Some("1"));
            assert_eq!(wait.param("QueueSid"), Some(queue_sid.as_str()));
            assert_eq!(wait.param("QueueTime"), Some("0"));
            assert_eq!(wait.param("AvgQueueTime"), Some("0"));
            assert_eq!(wait.param("CurrentQueueSize"), Some("1"));
            assert_eq!(wait.param("MaxQueueSize"), Some("1000"));
        }
        assert_eq!(requests[3].url, "http://127.0.0.1:8080/voice/queue-result");
        assert_eq!(requests[3].param("QueueResult"), Some("hangup"));
        assert_eq!(requests[3].param("QueueSid"), Some(queue_sid.as_str()));
        assert_eq!(requests[3].param("QueueTime"), Some("0"));
        assert_eq!(requests[3].param("QueuePosition"), None);
        assert_eq!(server.status_callbacks().len(), 1);
    }

    #[test]
    fn leaving_the_queue_continues_with_the_action() {
        let mut server = FakeServer::new(&[
            r#"<Enqueue action="queue-result" waitUrl="wait">support-uk</Enqueue><Say>unreached</Say>"#,
            // A gather in the wait music, answered by the script, leads to a Leave.
            r#"<Gather action="wait-choice" numDigits="1"><Say>Press 1 to leave a message.</Say></Gather>"#,
            "<Redirect>wait-leave</Redirect>",
            "<Leave/>",
            "<Say>Leave your message.</Say><Hangup/>",
        ]);
        let (result, _) = call(&options(Some("1")), &mut server, "");
        let transcript = result.unwrap();
        assert_eq!(transcript.end, CallEnd::HungUpByServer);
        assert!(transcript.heard.contains(&Heard::LeftQueue));
        let requests = server.twiml_requests();
        let urls: Vec<&str> = requests.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:8080/voice/incoming",
                "http://127.0.0.1:8080/voice/wait",
                "http://127.0.0.1:8080/voice/wait-choice",
                "http://127.0.0.1:8080/voice/wait-leave",
                "http://127.0.0.1:8080/voice/queue-result",
            ]
        );
        assert_eq!(requests[2].param("Digits"), Some("1"));
        assert!(requests[2].param("QueueSid").is_some(), "wait requests carry the queue");
        assert!(requests[3].param("QueueSid").is_some(), "wait requests carry the queue");
        assert_eq!(requests[4].param("QueueResult"), Some("leave"));
    }

    #[test]
    fn a_queue_without_wait_url_or_action() {
        let mut server = FakeServer::new(&["<Enqueue>support</Enqueue><Say>unreached</Say>"]);
        let mut options = options(Some(""));
        options.queue_waits = 3;
        let (result, printed) = call(&options, &mut server, "");
        let transcript = result.unwrap();
        assert_eq!(transcript.end, CallEnd::CallerHungUp);
        assert_eq!(transcript.requests, 1);
        assert_eq!(transcript.heard.iter().filter(|h| **h == Heard::HoldMusic).count(), 3);
        assert!(printed.contains("  [the provider's hold music]\n"));
    }

    #[test]
    fn endless_hold_music_is_bounded() {
        let mut server = FakeServer::new(&["<Enqueue>support</Enqueue>"]);
        let mut options = options(Some(""));
        options.queue_waits = u32::MAX;
        let (result, _) = call(&options, &mut server, "");
        assert!(matches!(result, Err(SimulatorError::TooManyRequests { limit: 20 })), "{result:?}");
    }

    #[test]
    fn the_server_can_hang_up_on_a_waiting_caller() {
        let mut server = FakeServer::new(&[
            r#"<Enqueue action="/voice/queue-result" waitUrl="/voice/wait">support</Enqueue>"#,
            "<Say>We are closed.</Say><Hangup/>",
            "",
        ]);
        let (result, _) = call(&options(Some("")), &mut server, "");
        assert_eq!(result.unwrap().end, CallEnd::HungUpByServer);
        assert_eq!(server.twiml_requests()[2].param("QueueResult"), Some("hangup"));
    }

    #[test]
    fn a_dial_nobody_answers() {
        let mut server = FakeServer::new(&[
            r#"<Dial action="/voice/dialed"><Number>+15550001111</Number></Dial>"#,
            "<Dial>+15550002222</Dial><Hangup/>",
        ]);
        let (result, printed) = call(&options(Some("")), &mut server, "");
        let transcript = result.unwrap();
        assert_eq!(transcript.heard[0], Heard::Dialed { target: "Number +15550001111".into() });
        assert!(
            printed.contains("  ☏ dialling Number +15550001111: nobody answers in the simulator\n")
        );
        let dialed = &server.twiml_requests()[1];
        assert_eq!(dialed.param("DialCallStatus"), Some("no-answer"));
        assert_eq!(dialed.param("DialCallDuration"), Some("0"));
        assert_eq!(transcript.end, CallEnd::HungUpByServer);
    }

    #[test]
    fn an_interactive_caller_types_keys() {
        let mut server = FakeServer::new(&[
            MENU,
            r#"<Gather action="/voice/menu"><Say>Menu.</Say></Gather><Redirect>/voice/menu</Redirect>"#,
            r#"<Enqueue action="/voice/queue-result" waitUrl="/voice/wait">support</Enqueue>"#,
            WAIT,
            WAIT,
            "",
        ]);
        // A bad press is explained and asked again; an empty line is silence; at the queue,
        // Enter keeps waiting and h hangs up.
        let input = "1x\n2\r\n\n\nh\n";
        let (result, printed) = call(&options(None), &mut server, input);
        let transcript = result.unwrap();
        assert_eq!(transcript.end, CallEnd::CallerHungUp);
        assert!(printed.contains("'x' is not a phone key"), "{printed}");
        assert!(printed.contains("press keys (Enter = silence, h = hang up)> "), "{printed}");
        assert!(
            printed
                .contains("still waiting (Enter = keep waiting, keys = press them, h = hang up)> "),
            "{printed}"
        );
        let requests = server.twiml_requests();
        assert_eq!(requests[1].param("Digits"), Some("2"));
        assert_eq!(requests[2].url, "http://127.0.0.1:8080/voice/menu");
        assert_eq!(requests[2].param("Digits"), None, "silence fell through to the Redirect");
        assert_eq!(requests.iter().filter(|r| r.url.ends_with("/voice/wait")).count(), 2);
        assert_eq!(requests.last().unwrap().param("QueueResult"), Some("hangup"));
    }

    /// A wait document that listens for one key, as the hotline's is when its handoff offers
    /// keys to a waiting caller.
    const WAIT_KEYS: &str = r#"<Gather action="/voice/wait-key" numDigits="1" timeout="1"><Say>You are number 1 in line. To leave a message, press 1.</Say><Pause length="20"/></Gather>"#;

    #[test]
    fn a_caller_on_hold_presses_a_key_and_the_wait_hears_it() {
        // (`#` would end the gather empty-handed: the gather's finishOnKey, as at the provider.)
        for key in ["1", "*", "0"] {
            let mut server = FakeServer::new(&[
                r#"<Enqueue action="/voice/queue-result" waitUrl="/voice/wait">support</Enqueue>"#,
                WAIT_KEYS,
                WAIT_KEYS,
                "<Leave/>",
                "<Say>Leave your message.</Say><Hangup/>",
            ]);
            // Round one: silence at its gather. Then on hold, the key: the next round's
            // gather takes it without asking again.
            let input = format!("\n {key} \n");
            let (result, printed) = call(&options(None), &mut server, &input);
            assert_eq!(result.unwrap().end, CallEnd::HungUpByServer, "{printed}");
            let requests = server.twiml_requests();
            let urls: Vec<&str> = requests.iter().map(|r| r.url.as_str()).collect();
            assert_eq!(
                urls,
                [
                    "http://127.0.0.1:8080/voice/incoming",
                    "http://127.0.0.1:8080/voice/wait",
                    "http://127.0.0.1:8080/voice/wait",
                    "http://127.0.0.1:8080/voice/wait-key",
                    "http://127.0.0.1:8080/voice/queue-result",
                ],
                "{printed}"
            );
            assert_eq!(requests[3].param("Digits"), Some(key));
            assert!(requests[3].param("QueueSid").is_some(), "a wait request carries the queue");
            assert_eq!(requests[4].param("QueueResult"), Some("leave"));
            assert_eq!(printed.matches("press keys (Enter").count(), 1, "{printed}");
            assert!(printed.contains(&format!("  ⌨ {key}\n")), "{printed}");
        }
    }

    #[test]
    fn keys_on_hold_music_that_listens_for_none_go_unheard() {
        // A wait of plain music: the provider drops the key; the caller waits on.
        let mut server = FakeServer::new(&[
            r#"<Enqueue action="/voice/queue-result" waitUrl="/voice/wait">support</Enqueue>"#,
            WAIT,
            WAIT,
            WAIT,
            "",
        ]);
        let (result, printed) = call(&options(None), &mut server, "1\n\nh\n");
        assert_eq!(result.unwrap().end, CallEnd::CallerHungUp);
        assert!(printed.contains("(nothing in the wait listens for keys: 1 went unheard)"));
        let requests = server.twiml_requests();
        assert!(requests.iter().all(|r| r.param("Digits").is_none()), "{printed}");
        assert_eq!(requests.iter().filter(|r| r.url.ends_with("/voice/wait")).count(), 3);
        // Nor does the provider's own music, without a wait URL.
        let mut server = FakeServer::new(&["<Enqueue>support</Enqueue>"]);
        let (result, printed) = call(&options(None), &mut server, "5\nh\n");
        assert_eq!(result.unwrap().end, CallEnd::CallerHungUp);
        assert!(printed.contains("5 went unheard"), "{printed}");
    }

    #[test]
    fn a_wrong_answer_on_hold_is_explained_and_asked_again() {
        let mut server = FakeServer::new(&[
            r#"<Enqueue action="/voice/queue-result" waitUrl="/voice/wait">support</Enqueue>"#,
            WAIT,
            WAIT,
            "",
        ]);
        let huge = "9".repeat(100_000);
        let input = format!("x\n1; rm -rf /\n{huge}\n\u{1b}[2J\n_\nhangup\n");
        let (result, printed) = call(&options(None), &mut server, &input);
        assert_eq!(result.unwrap().end, CallEnd::CallerHungUp);
        assert!(printed.contains("'x' is not a phone key"), "{printed}");
        assert!(printed.contains("';' is not a phone key"), "{printed}");
        assert!(printed.contains("at most"), "{printed}");
        assert!(!printed.contains('\u{1b}'), "an escape is not echoed: {printed:?}");
        // `_` waits on (a second round), `hangup` ends it; nothing reached the server.
        assert_eq!(server.twiml_requests().len(), 4, "{printed}");
        assert!(server.twiml_requests().iter().all(|r| r.param("Digits").is_none()));
    }

    #[test]
    fn the_end_of_input_hangs_up() {
        let mut server = FakeServer::new(&[MENU]);
        let (result, printed) = call(&options(None), &mut server, "");
        assert_eq!(result.unwrap().end, CallEnd::CallerHungUp);
        assert!(printed.ends_with("> \n☎ you hung up after 1 request\n"), "{printed}");
    }

    #[test]
    fn a_hangup_press_hangs_up() {
        let mut server = FakeServer::new(&[MENU]);
        let (result, _) = call(&options(Some("hangup,1")), &mut server, "");
        assert_eq!(result.unwrap().end, CallEnd::CallerHungUp);
        assert_eq!(server.twiml_requests().len(), 1);
    }

    #[test]
    fn an_error_status_is_an_error_and_the_call_is_still_closed() {
        let mut server = FakeServer::new(&[MENU]);
        let (result, _) = call(&options(Some("1")), &mut server, "");
        match result {
            Err(SimulatorError::Status { url, status, body }) => {
                assert_eq!(url, "http://127.0.0.1:8080/voice/language");
                assert_eq!(status, 404);
                assert_eq!(body, "no more answers");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(server.status_callbacks().len(), 1);
    }

    #[test]
    fn what_is_not_twiml_is_an_error() {
        let long = "x".repeat(2000);
        let answers = [
            Reply {
                status: 200,
                content_type: Some("text/html".into()),
                body: "<Response/>".into(),
            },
            Reply { status: 200, content_type: None, body: "<Response/>".into() },
            Reply { status: 200, content_type: Some("application/xml".into()), body: long.clone() },
            Reply {
                status: 200,
                content_type: Some("text/xml".into()),
                body: "<Response><Leave/></Response>".into(),
            },
        ];
        for answer in answers {
            let mut server = FakeServer { answers: VecDeque::from([answer]), sent: Vec::new() };
            let (result, _) = call(&options(Some("")), &mut server, "");
            match result {
                Err(SimulatorError::Twiml { status: 200, body, .. }) => {
                    assert!(body.len() <= 503, "{body}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_redirect_loop_is_bounded() {
        let loop_doc = "<Redirect>/voice/incoming</Redirect>";
        let mut server = FakeServer::new(&[loop_doc; 30]);
        let (result, _) = call(&options(Some("")), &mut server, "");
        assert!(matches!(result, Err(SimulatorError::TooManyRequests { limit: 20 })), "{result:?}");
        assert_eq!(server.twiml_requests().len(), 20);
        assert_eq!(server.status_callbacks().len(), 1);
    }

    #[test]
    fn a_bad_url_in_a_document_is_an_error() {
        let mut server = FakeServer::new(&["<Redirect>mailto:x@example.org</Redirect>"]);
        let (result, _) = call(&options(Some("")), &mut server, "");
        assert!(matches!(result, Err(SimulatorError::InvalidUrl { .. })), "{result:?}");
    }

    #[test]
    fn a_base_url_that_is_not_a_url_places_no_call() {
        let mut server = FakeServer::new(&[]);
        let mut options = options(Some(""));
        options.base_url = "127.0.0.1:8080".into();
        let (result, _) = call(&options, &mut server, "");
        assert!(matches!(result, Err(SimulatorError::InvalidUrl { .. })), "{result:?}");
        assert!(server.sent.is_empty());
    }

    #[test]
    fn a_random_call_sid_looks_like_the_providers() {
        let mut server = FakeServer::new(&["<Hangup/>"]);
        let mut options = options(Some(""));
        options.call_sid = None;
        let (result, _) = call(&options, &mut server, "");
        let sid = result.unwrap().call_sid;
        assert!(
            sid.starts_with("CA")
                && sid.len() == 34
                && sid[2..].chars().all(|c| c.is_ascii_hexdigit())
        );
    }

    #[test]
    fn control_characters_are_not_printed() {
        let mut server = FakeServer::new(&["<Say>a\u{9b}31mb</Say>"]);
        let (_, printed) = call(&options(Some("")), &mut server, "");
        assert!(printed.contains("a\u{fffd}31mb"), "{printed:?}");
    }

    #[test]
    fn read_line_is_bounded() {
        let long = format!("{}\nnext\nlast", "1".repeat(10_000));
        let mut input = long.as_bytes();
        assert_eq!(read_line(&mut input).unwrap().map(|l| l.len()), Some(MAX_LINE_BYTES));
        assert_eq!(read_line(&mut input).unwrap().as_deref(), Some("next"));
        assert_eq!(read_line(&mut input).unwrap().as_deref(), Some("last"));
        assert_eq!(read_line(&mut input).unwrap(), None);
    }

    /// The fake server, answering only after the caller's task has yielded once, as a
    /// network transport does.
    struct LateServer(FakeServer);

    impl Transport for LateServer {
        fn send<'a>(
            &'a mut self,
            url: &'a str,
            method: Method,
            params: &'a [(String, String)],
        ) -> crate::simulator::Sending<'a> {
            Box::pin(async move {
                tokio::task::yield_now().await;
                self.0.send(url, method, params).await
            })
        }
    }

    const THREE_DOCUMENTS: [&str; 3] = [
        MENU,
        r#"<Gather action="/voice/menu"><Say>Menu.</Say></Gather>"#,
        "<Say>Bye.</Say><Hangup/>",
    ];

    #[tokio::test]
    async fn an_asynchronous_transport_acts_out_the_same_call() {
        let options = options(Some("1,2"));
        let mut server = FakeServer::new(&THREE_DOCUMENTS);
        let (expected, printed) = call(&options, &mut server, "");
        let mut late = LateServer(FakeServer::new(&THREE_DOCUMENTS));
        let mut out = Vec::new();
        let result = run(&options, &mut late, &mut std::io::empty(), &mut out).await;
        let (expected, result) = (expected.unwrap(), result.unwrap());
        assert_eq!((result.end.clone(), result.requests), (CallEnd::HungUpByServer, 3));
        assert_eq!((result.heard, result.requests), (expected.heard, expected.requests));
        assert_eq!(String::from_utf8(out).unwrap(), printed);
        assert_eq!(late.0.status_callbacks().len(), 1);
    }

    #[test]
    fn a_blocking_call_through_a_late_transport_is_an_error_not_a_hang() {
        let mut late = LateServer(FakeServer::new(&THREE_DOCUMENTS));
        let mut out = Vec::new();
        let result =
            crate::simulator::run_with(&options(Some("1")), &mut late, &mut &b""[..], &mut out);
        assert!(matches!(result, Err(SimulatorError::NotReady)), "{result:?}");
        // Driven once, the call stopped at its first request, which never reached the server.
        assert!(late.0.sent.is_empty());
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1, "only the dialling line");
    }
}
