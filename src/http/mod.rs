//! Everything HTTP: the server and its four surfaces (the provider's voice webhooks, the text
//! channels' webhooks, the JSON API, the console), each of which calls the use cases and
//! never another surface.

pub(crate) mod api;
pub(crate) mod connections;
pub(crate) mod console;
pub mod limits;
pub mod operations;
pub mod server;
pub(crate) mod text;
pub(crate) mod webhooks;
