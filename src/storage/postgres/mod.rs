//! PostgreSQL: the schema the binary carries (`schema.rs`) and the copy of a whole database
//! between SQLite and PostgreSQL (`transfer.rs`, `hotline migrate-db`). The backend that runs
//! the hotline on PostgreSQL is not written yet; it will live here and share the schema.
//!
//! Connections are plain TCP (`NoTls`): the servers are reached over loopback or a private
//! network today. TLS comes with the backend, which will connect across machines.

mod open;
mod schema;
mod transfer;

pub use transfer::{Endpoint, TableCount, TransferError, TransferReport, transfer};
