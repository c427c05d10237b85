//! Twilio's Queue resource, as far as the hotline uses it: a queue read by its id, the
//! account's queues listed page by page, and an empty queue deleted.
//!
//! Twilio keeps a queue for ever once a call has been put in it, and asks that inactive
//! queues be deleted; only an empty queue can be. A queue is
//! `{"sid":"QU…","friendly_name":…,"current_size":…,"date_created":"<RFC 2822>",…}`; a list
//! is `{"queues":[…],"next_page_uri":"/2010-04-01/…"|null,…}`.
//!
//! Blocking, like every request of the [`Account`]'s.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::account::{Account, ApiError, Deleted, deleted, is_sid};

/// The most queues asked for in one page (Twilio's largest page).
const PAGE_SIZE: &str = "1000";

/// A queue, as the hotline reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    /// Its id, `QU…`.
    pub sid: String,
    /// Its name: the text of the `<Enqueue>` that made it.
    pub friendly_name: String,
    /// The calls in it now.
    pub current_size: u32,
    /// When it was made, if Twilio said.
    pub date_created: Option<DateTime<Utc>>,
}

/// A queue as Twilio writes it.
#[derive(Deserialize)]
struct Written {
    sid: Option<String>,
    friendly_name: Option<String>,
    current_size: Option<u32>,
    date_created: Option<String>,
}

/// A page of queues as Twilio writes it.
#[derive(Deserialize)]
struct Page {
    queues: Option<Vec<Written>>,
    next_page_uri: Option<String>,
}

/// An account's Queue resource.
#[derive(Debug, Clone)]
pub struct QueuesApi {
    account: Arc<Account>,
}

impl QueuesApi {
    /// The Queue resource of `account`.
    pub fn new(account: Arc<Account>) -> QueuesApi {
        QueuesApi { account }
    }

    /// Queue `sid`; `None` when Twilio has no such queue (or `sid` is not a queue's id,
    /// which is then not requested).
    pub fn fetch(&self, sid: &str) -> Result<Option<Queue>, ApiError> {
        if !is_queue_sid(sid) {
            return Ok(None);
        }
        match self.account.get(&format!("Queues/{sid}.json"), &[]) {
            Ok(answer) => read_queue(&answer.text).map(Some),
            Err(ApiError::Refused { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The account's queues, following Twilio's pages up to `max_pages` of them.
    pub fn list(&self, max_pages: usize) -> Result<Vec<Queue>, ApiError> {
        let mut queues = Vec::new();
        let mut answer = self.account.get("Queues.json", &[("PageSize", PAGE_SIZE)])?;
        for _ in 0..max_pages {
            let (page, next) = read_page(&answer.text)?;
            queues.extend(page);
            match next {
                Some(next) => answer = self.account.get_page(&next)?,
                None => break,
            }
        }
        Ok(queues)
    }

    /// Deletes queue `sid`, which must be empty (Twilio refuses otherwise). `None` when
    /// `sid` is not a queue's id, which is then not requested.
    pub fn delete(&self, sid: &str) -> Option<Result<Deleted, ApiError>> {
        is_queue_sid(sid).then(|| deleted(self.account.delete(&format!("Queues/{sid}.json"))))
    }
}

/// Whether `sid` is shaped like a queue's id: `QU` and 32 hex digits.
pub fn is_queue_sid(sid: &str) -> bool {
    is_sid(sid, &["QU"])
}

/// A queue from its JSON.
fn read_queue(text: &str) -> Result<Queue, ApiError> {
    let written = serde_json::from_str::<Written>(text)
        .map_err(|_| ApiError::Unreachable("a queue that is not Twilio's JSON".into()))?;
    queue(written).ok_or_else(|| ApiError::Unreachable("a queue without its id or name".into()))
}

/// A page's queues (those that make sense) and the address of the next page, if any.
fn read_page(text: &str) -> Result<(Vec<Queue>, Option<String>), ApiError> {
    let page = serde_json::from_str::<Page>(text)
        .map_err(|_| ApiError::Unreachable("a page of queues that is not Twilio's JSON".into()))?;
    let Some(queues) = page.queues else {
        return Err(ApiError::Unreachable("a page without its queues".into()));
    };
    let next = page.next_page_uri.filter(|uri| !uri.is_empty());
    Ok((queues.into_iter().filter_map(queue).collect(), next))
}

/// The queue `written` describes, if it has an id and a name.
fn queue(written: Written) -> Option<Queue> {
    let sid = written.sid.filter(|sid| is_queue_sid(sid))?;
    let friendly_name = written.friendly_name.filter(|name| name.len() <= 64)?;
    let date_created = written
        .date_created
        .and_then(|date| DateTime::parse_from_rfc2822(&date).ok())
        .map(|date| date.with_timezone(&Utc));
    Some(Queue { sid, friendly_name, current_size: written.current_size?, date_created })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "QU0123456789abcdef0123456789abcdef";

    fn written(sid: &str, name: &str, size: u32) -> serde_json::Value {
        serde_json::json!({
            "account_sid": "AC0123456789abcdef0123456789abcdef",
            "average_wait_time": 0,
            "current_size": size,
            "date_created": "Tue, 04 Aug 2026 18:39:09 +0000",
            "date_updated": "Tue, 04 Aug 2026 18:39:09 +0000",
            "friendly_name": name,
            "max_size": 1000,
            "sid": sid,
            "uri": format!("/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Queues/{sid}.json"),
        })
    }

    #[test]
    fn a_queue_is_read_as_twilio_writes_it() {
        let queue = read_queue(&written(SID, "c-2026-000042-17", 0).to_string()).unwrap();
        assert_eq!(queue.sid, SID);
        assert_eq!(queue.friendly_name, "c-2026-000042-17");
        assert_eq!(queue.current_size, 0);
        let created = queue.date_created.unwrap();
        assert_eq!(created.to_rfc3339(), "2026-08-04T18:39:09+00:00");
        for odd in ["", "{}", "[]", r#"{"sid":"QU1","friendly_name":"a","current_size":0}"#] {
            assert!(matches!(read_queue(odd), Err(ApiError::Unreachable(_))), "{odd}");
        }
    }

    #[test]
    fn a_page_gives_its_queues_and_the_next_one() {
        let other = SID.replace('0', "1");
        let page = serde_json::json!({
            "queues": [
                written(SID, "c-2026-000001-1", 0),
                written(&other, "ru", 3),
                written("QU<script>", "c-x", 0),
                {"sid": SID, "friendly_name": "x".repeat(65), "current_size": 0},
            ],
            "next_page_uri": "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Queues.json?PageSize=1000&Page=1&PageToken=PAQU1",
            "page": 0,
            "page_size": 1000,
        });
        let (queues, next) = read_page(&page.to_string()).unwrap();
        let names: Vec<_> = queues.iter().map(|q| q.friendly_name.as_str()).collect();
        assert_eq!(names, ["c-2026-000001-1", "ru"], "odd entries are skipped");
        assert!(next.unwrap().ends_with("PageToken=PAQU1"));
        let last = serde_json::json!({"queues": [], "next_page_uri": null});
        assert_eq!(read_page(&last.to_string()).unwrap(), (Vec::new(), None));
        for odd in ["", "{}", "<html>", r#"{"queues":"many"}"#] {
            assert!(matches!(read_page(odd), Err(ApiError::Unreachable(_))), "{odd}");
        }
    }

    #[test]
    fn queue_ids_are_twilios_shape() {
        assert!(is_queue_sid(SID));
        for bad in
            ["", "QU1", "CA0123456789abcdef0123456789abcdef", "QU../../Calls/CA01234567890123"]
        {
            assert!(!is_queue_sid(bad), "{bad}");
        }
    }
}
