//! PostgreSQL: the schema the binary carries (`schema.rs`), opening the hotline's storage on
//! a database (`open.rs`: the same `Storage`, its SQL spoken through `engine.rs`), and the
//! copy of a whole database between SQLite and PostgreSQL (`transfer.rs`, `hotline
//! migrate-db`).
//!
//! Connections are plain TCP (`NoTls`): the servers are reached over loopback or a private
//! network today. TLS is still to come, for servers on other machines.

mod open;
mod schema;
mod transfer;

pub use transfer::{Endpoint, TableCount, TransferError, TransferReport, transfer};
