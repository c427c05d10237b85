//! The gateway to Twilio's REST API: [`account`] reaches an account's resources and reads
//! Twilio's answers into what the caller may do next; [`messages`] creates the messages that
//! answer people who write by SMS or WhatsApp (`POST …/Messages.json`); [`queues`] reads and
//! deletes the queues callers waited in (`…/Queues`); [`recordings`] streams a voicemail's
//! audio and deletes it when retention shreds it (`…/Recordings`); [`calls`] rings call-me
//! operators (`POST …/Calls.json`).
//!
//! Incoming messages are not parsed here: they are a form like the voice webhooks', read at
//! the edge by the text surface. Like `telegram/`, this does I/O, knows nothing of the hotline
//! beyond the domain's [`Secret`], and is called by the use cases only.
//!
//! [`Secret`]: crate::domain::secret::Secret

pub mod account;
pub mod calls;
pub mod messages;
pub mod queues;
pub mod recordings;
