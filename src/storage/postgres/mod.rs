//! PostgreSQL: the schema the binary carries (`schema.rs`), opening the hotline's storage on
//! a database (`open.rs`: the same `Storage`, its SQL spoken through `engine.rs`), and the
//! copy of a whole database between SQLite and PostgreSQL (`transfer.rs`, `hotline
//! migrate-db`).
//!
//! Connections are plain TCP, or TLS that checks the server's certificate, as the URL says
//! (`tls.rs`).

mod open;
mod schema;
pub mod tls;
mod transfer;

pub use transfer::{Endpoint, TableCount, TransferError, TransferReport, transfer};
