//! `hotline`: the backend of a 24-hour multilingual hotline.
//!
//! People call a phone number; the telephony provider (Twilio, or any TwiML-compatible one)
//! asks this server, over webhooks, what to do next; an IVR in the caller's language finds out
//! what they need and hands them to an operator who speaks it. People who cannot call write to
//! a Telegram bot instead, which walks the same scripts. Every call and every conversation is
//! kept as a case.
//!
//! # A tour of the crate
//!
//! The crate has layers, and each names only the ones below it (`tests/integration/
//! architecture.rs` checks it):
//!
//! ```text
//!   surfaces   http/webhooks  http/text  http/api  http/console  cli   (never each other)
//!                 \              |           |          /
//!   use cases                   app  (App, Actor, AppError, Clock)
//!                 /              |                     \
//!   engines    ivr chat twiml signature scripts   storage (all SQL)  telegram
//!                 \              |                     /
//!   vocabulary                 domain  (pure)
//! ```
//!
//! - [`domain`] is the hotline's vocabulary, with no I/O: languages, nodes and tags; calls,
//!   cases, their summaries and the records that build them; the values of case work;
//!   follow-ups and the sealing of callback numbers; the queue's rules and entries; people,
//!   roles and console sessions; the PIN lockout's policy and locks; script versions, drafts
//!   and test callers; the wall board's figures; the line's time zone; the keyed hash of
//!   callers' numbers; and [`domain::audit::AuditAction`], every action the audit log
//!   records, with its lines as read back. The plain records storage reads back are defined here, so a surface names
//!   them without naming storage.
//! - [`scripts`] is the script language: the XML dialect of `docs/scripts.md` loaded,
//!   validated with positions, drawn as a graph, translated, reported on.
//! - [`ivr`] walks a caller through a language's script: given where the call is and what the
//!   caller pressed, it decides what is said and offered next, and what to record. [`twiml`]
//!   writes the provider's documents; [`signature`] checks (and the simulator makes) the
//!   provider's request signatures. [`chat`] walks a person writing on a text channel through
//!   the same script, taking every decision from [`ivr`] and rendering its turns as messages
//!   with buttons. All four are pure.
//! - [`telegram`] is the gateway to Telegram's Bot API: the updates its webhook receives,
//!   parsed once at the edge (chat ids and texts never printed), and the blocking client that
//!   answers. Like storage it does I/O and is called by the use cases only. [`twilio`] is the
//!   same for Twilio's Messaging REST API, which answers people writing by SMS or WhatsApp.
//!   Both call out through the HTTP agent of `outbound.rs`, sized for the outbox's sends.
//! - [`storage`] owns every line of SQL (SQLite, and PostgreSQL's for the copy between the
//!   two), the migrations, and the journal that keeps records while the database is down.
//! - [`app`] holds the use cases: one [`app::App`] that every surface calls, checking each
//!   role rule on the [`app::Actor`] asking, writing each audit line, reading the one
//!   [`app::Clock`], and failing with an [`app::AppError`] each surface maps to its own answer.
//!   Beside it run the journal's replay, the retention purge, the scripts folder's watcher,
//!   the recovery of calls whose end was lost, the outbox that paces and retries every message
//!   to a text channel, and the upkeep of conversations (reminders, closings, places in line).
//! - [`http`] is everything axum: [`http::server`] composes the four surfaces and runs them
//!   with bounds on slow clients ([`http::connections`]) and floods ([`http::limits`]);
//!   [`http::operations`] answers `/metrics`, `/healthz` and `/readyz`.
//!   [`http::webhooks`] is the provider's surface: the form parsed once into a typed request,
//!   the caller's number hashed there, one route per URL, and safe TwiML whatever fails.
//!   `http::text` is the text channels' surface (`POST /text/telegram`): an update parsed at
//!   the edge, acknowledged once stored, answered through the outbox.
//!   [`http::api`] is the JSON API of people at a screen (bearer tokens); [`http::console`]
//!   the web console (sessions with CSRF tokens, pages rendered on the server, live regions).
//! - [`cli`] is the `hotline` command; [`simulator`] the provider's side of a call, for
//!   `hotline call`, the tests and the benchmark.
//! - [`config`] is `config.toml` and its `HOTLINE_*` overrides, typed and validated once;
//!   [`telemetry`] the structured logs; [`fuzzing`] the entry points of the fuzzers in `fuzz/`.
//!
//! `docs/security.md` is the threat model, `docs/resilience.md` what is guaranteed when
//! things break.

pub mod app;
pub(crate) mod chat;
pub mod cli;
pub mod config;
pub mod domain;
pub mod fuzzing;
pub mod http;
pub(crate) mod ivr;
pub(crate) mod outbound;
pub mod scripts;
pub mod signature;
pub mod simulator;
pub mod storage;
pub mod telegram;
pub(crate) mod telemetry;
pub mod twilio;
pub(crate) mod twiml;
