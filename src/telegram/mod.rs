//! The gateway to Telegram's Bot API, where people write to the hotline's bot instead of
//! calling: [`update`] parses what Telegram posts to the webhook, [`client`] calls the Bot
//! API back (send, edit, delete, answer a button, register the webhook).
//!
//! It does I/O but knows nothing of the hotline beyond the domain's [`Secret`]; the use cases
//! in `app/` are its only callers, as they are storage's.
//!
//! [`Secret`]: crate::domain::secret::Secret

pub mod client;
pub mod update;
