//! The hotline's vocabulary, pure: no I/O, no runtime, no HTTP. Every other layer speaks it.

pub mod audit;
pub mod cases;
pub mod casework;
pub mod conversation;
pub mod csv;
pub mod dashboard;
pub mod followups;
pub mod language;
pub mod line_time;
pub mod lockout;
pub mod outbox;
pub mod people;
pub mod queue;
pub mod recording;
pub mod retention;
pub mod script_versions;
pub mod secret;
pub mod session;
pub mod timeline;
