//! The scripts as the running hotline holds them: every published version in the database,
//! the version each call is on, the folder watched for edits, and what a supervisor does to
//! them (`editing.rs`), every publication going through [`versions::publish`].

pub mod editing;
pub mod live;
pub mod versions;
pub mod watch;
