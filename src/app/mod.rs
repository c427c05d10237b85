//! The use cases: what the hotline does, whichever surface asked.

pub mod backup;
pub mod casework;
pub mod hashers;
pub mod keys;
pub mod metrics;
pub mod people;
pub mod queues;
pub mod recovery;
pub mod retention;
pub mod scripts;
pub mod secrets;
