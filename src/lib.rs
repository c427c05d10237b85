//! `hotline`: the backend of a 24-hour multilingual hotline.
//!
//! People call a phone number; the telephony provider (Twilio, or any TwiML-compatible one)
//! asks this server, over webhooks, what to do next; an IVR in the caller's language finds out
//! what they need and hands them to an operator who speaks it. Every call is kept as a case.
//!
//! # A tour of the crate
//!
//! The call path, in the order a request meets it:
//!
//! - [`server`] builds the HTTP application from a [`config::Config`] and runs it.
//! - [`webhooks`] is the provider's surface: it checks the request's signature
//!   ([`signature`]), parses the form into trusted types, asks [`ivr`] what happens next, and
//!   answers TwiML written by [`twiml`]. Whatever fails behind it, it answers safe TwiML.
//! - [`ivr`] walks a caller through a language's script: given where the call is and what the
//!   caller pressed, it decides what is said and offered next, and what to record. It knows
//!   nothing of HTTP or TwiML, so text channels can reuse it.
//! - [`scripts`] loads and validates `ivr-scripts/`: the language choice and one script per
//!   language, in the XML dialect described in `docs/scripts.md`.
//!   Its `versions` keep every published version in the database (drafts, publishing,
//!   rollback, the folder watched by `watch`), and `live` holds the version each call is on.
//! - [`cases`] defines what is remembered about a call; [`storage`] owns every line of SQL
//!   (SQLite by default) and the journal that keeps records while the database is down.
//! - [`casework`] is what people add to a case after the call (notes, disposition, closing),
//!   the masked case detail, search and CSV export, and the blocklist `/voice/incoming` checks.
//! - [`followups`] is the follow-up list (voicemails, callback requests, calls missed in the
//!   queue) and the sealing of callback numbers, the one phone number the hotline keeps.
//! - [`secrets`] holds the provider's auth token, the key that hashes callers' numbers and the
//!   key that seals callback numbers; [`keys`] rotates the caller-hash key without the numbers.
//! - [`retention`] shreds personal data after its period (legal holds exempt a case);
//!   [`backup`] copies the live database, optionally encrypted, and restores it.
//!   `docs/security.md` is the threat model they answer to.
//!
//! The people who answer: [`people`] are the operators who take callers over and the
//! supervisors who manage them (roles, languages, hashed PINs, passwords and API tokens; its
//! `hashers` check passwords and PINs on a few threads of their own, so a flood of them cannot
//! exhaust memory, and its `lockout` locks an operator ID or a number after wrong PINs);
//! [`api`] is their JSON surface, where every request carries a bearer token and every change
//! is written to an audit log.
//! [`console`] is their web console at `/console`: pages rendered on the server, sessions
//! with CSRF tokens, live regions over Server-Sent Events, the interface in their language.
//! [`queue`] is how a caller reaches one of them: presence, routing by language with
//! fallbacks, one provider queue per caller chosen by the server, the wait announcements, and
//! the operator line (`webhooks/operator.rs`) where operators dial in with a PIN and hear a
//! whisper of the case before they are connected.
//!
//! Around it: [`cli`] (the `hotline` command), [`simulator`] (`hotline call`, a caller in a
//! terminal that speaks the provider's protocol), and [`telemetry`] (structured logs).
//! [`metrics`] is for operations: `/metrics` for the monitoring system, `/healthz`, `/readyz`.
//! [`connections`] serves HTTP with bounds on slow and idle clients; [`limits`] keeps a flood
//! of calls from one number or forged requests from one address from pushing real callers
//! out; [`fuzzing`] holds the entry points the fuzzers in `fuzz/` and their regression corpus
//! drive. `docs/resilience.md` says what is guaranteed when things break, and how it is shown.
//! [`recovery`] closes the cases of calls whose final status callback was lost while the
//! server was down.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod fuzzing;
pub mod http;
pub mod ivr;
pub mod scripts;
pub mod signature;
pub mod simulator;
pub mod storage;
pub mod telemetry;
pub mod twiml;
