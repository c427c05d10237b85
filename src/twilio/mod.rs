//! The gateway to Twilio's Messaging REST API, through which the hotline answers people who
//! write by SMS or WhatsApp: [`messages`] creates a message (`POST
//! /2010-04-01/Accounts/{AccountSid}/Messages.json`) and reads Twilio's answer into what the
//! caller may do next.
//!
//! Incoming messages are not parsed here: they are a form like the voice webhooks', read at
//! the edge by the text surface. Like `telegram/`, this does I/O, knows nothing of the hotline
//! beyond the domain's [`Secret`], and is called by the use cases only.
//!
//! [`Secret`]: crate::domain::secret::Secret

pub mod messages;
