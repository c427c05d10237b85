//! The scripts as the running hotline holds them: every published version in the database,
//! the version each call is on, and the folder watched for edits.

pub mod live;
pub mod versions;
pub mod watch;
