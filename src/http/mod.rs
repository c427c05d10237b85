//! Everything HTTP: the server and its three surfaces, each of which calls the use cases and
//! never another surface.

pub mod api;
pub mod connections;
pub mod console;
pub mod limits;
pub mod operations;
pub mod server;
pub mod webhooks;
