//! Twilio's Recording resource, as far as the hotline uses it: a recording's audio fetched
//! as MP3 (`GET Recordings/{RE…}.mp3`, streamed, bounded) so the console can play it through
//! the server, and a recording deleted (`DELETE Recordings/{RE…}.json`) when retention shreds
//! its address.
//!
//! Only a [`RecordingSid`] is ever requested: never an address a caller, a person or Twilio
//! posted. Blocking, like every request of the [`Account`]'s.

use std::sync::Arc;

use super::account::{Account, ApiError, Deleted, Media, deleted};
use crate::domain::recording::RecordingSid;

/// The most bytes of audio streamed: an hour's voicemail (Twilio's longest `<Record>`) is
/// about 14 MiB of MP3.
pub const MAX_MEDIA_BYTES: u64 = 32 * 1024 * 1024;

/// An account's Recording resource.
#[derive(Debug, Clone)]
pub struct RecordingsApi {
    account: Arc<Account>,
}

impl RecordingsApi {
    /// The Recording resource of `account`.
    pub fn new(account: Arc<Account>) -> RecordingsApi {
        RecordingsApi { account }
    }

    /// The audio of recording `sid`, as MP3 (smaller than WAV for the same voice).
    pub fn audio(&self, sid: &RecordingSid) -> Result<Media, ApiError> {
        self.account.stream(&format!("Recordings/{sid}.mp3"), MAX_MEDIA_BYTES)
    }

    /// Deletes recording `sid` (its audio and its transcriptions).
    pub fn delete(&self, sid: &RecordingSid) -> Result<Deleted, ApiError> {
        deleted(self.account.delete(&format!("Recordings/{sid}.json")))
    }
}
