//! The queue's rules, pure: who an operator takes next, the presence states, routing by
//! language with fallbacks, and the names of the provider's queues.

mod entry;
mod policy;
mod reach;
mod routing;

pub use entry::QueueEntry;
pub use policy::{
    CLAIM_SECS, Candidate, EntryState, Presence, PresenceState, next_for, provider_queue,
    stale_before,
};
pub use reach::Reach;
pub use routing::{Fallback, Fallbacks, Route, route};
