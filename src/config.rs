//! Configuration: `config.toml`, then `HOTLINE_*` environment overrides, validated once at
//! start.
//!
//! Every key has a default, so the server runs with no file at all. An environment variable
//! `HOTLINE_<SECTION>_<KEY>` (upper case) overrides `[section] key`: `HOTLINE_SERVER_LISTEN`,
//! `HOTLINE_DATABASE_PATH`. A `HOTLINE_` variable that names no key is an error rather than
//! silently ignored, so a typo cannot run the line on a default; it names the closest
//! variables the hotline reads. Secrets are not configuration (see `app/secrets.rs`), but
//! their names are known here, so that a typo in one is caught too.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::casework::{Disposition, Dispositions};
use crate::domain::followups::CallbackNumber;
use crate::domain::line_time::LineZone;
use crate::domain::lockout::PinPolicy;
use crate::domain::outbox::Pacing;
use crate::domain::queue::Fallbacks;
use crate::storage::postgres::tls::{UrlError, check_url};

// The secrets come from the environment (or a file it names), never from this file.
/// The environment variable of the auth token.
pub const AUTH_TOKEN_VAR: &str = "HOTLINE_AUTH_TOKEN";
/// The environment variable of the caller-hash key.
pub const CALLER_HASH_KEY_VAR: &str = "HOTLINE_CALLER_HASH_KEY";
/// The environment variable of the callback-number key.
pub const CALLBACK_KEY_VAR: &str = "HOTLINE_CALLBACK_KEY";
/// The environment variable holding the backup secret.
pub const BACKUP_KEY_VAR: &str = "HOTLINE_BACKUP_KEY";
/// The environment variable naming a file that holds the backup secret.
pub const BACKUP_KEY_FILE_VAR: &str = "HOTLINE_BACKUP_KEY_FILE";
/// The environment variable of the Telegram bot's token.
pub const TELEGRAM_TOKEN_VAR: &str = "HOTLINE_TELEGRAM_TOKEN";
/// The environment variable of the Telegram webhook's secret token.
pub const TELEGRAM_SECRET_VAR: &str = "HOTLINE_TELEGRAM_SECRET";
/// The environment variable of the secret of the provider's API key (`[provider] api_key_sid`).
pub const PROVIDER_API_SECRET_VAR: &str = "HOTLINE_PROVIDER_API_SECRET";

/// The environment variable that names the configuration file.
pub const CONFIG_VAR: &str = "HOTLINE_CONFIG";
/// The environment variable holding an operator's PIN for `hotline call --operator`.
pub const OPERATOR_PIN_VAR: &str = "HOTLINE_OPERATOR_PIN";
/// The environment variable naming the PostgreSQL server the storage's own tests also run
/// on (`scripts/test-postgres`); read by the tests only.
pub const TEST_POSTGRES_VAR: &str = "HOTLINE_TEST_POSTGRES";

/// Every secret the hotline reads. Each comes from its variable, or from the file named by the
/// same name with `_FILE` appended (`HOTLINE_AUTH_TOKEN_FILE`).
pub const SECRET_VARS: [&str; 7] = [
    AUTH_TOKEN_VAR,
    CALLER_HASH_KEY_VAR,
    CALLBACK_KEY_VAR,
    BACKUP_KEY_VAR,
    TELEGRAM_TOKEN_VAR,
    TELEGRAM_SECRET_VAR,
    PROVIDER_API_SECRET_VAR,
];

/// The `HOTLINE_` variables the hotline reads that are neither settings nor secrets.
const OTHER_VARS: [&str; 3] = [CONFIG_VAR, OPERATOR_PIN_VAR, TEST_POSTGRES_VAR];

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How the server listens and is reached.
    pub server: ServerConfig,
    /// How webhooks are checked and bounded.
    pub webhooks: WebhooksConfig,
    /// Where cases are kept.
    pub database: DatabaseConfig,
    /// Where the IVR scripts are.
    pub scripts: ScriptsConfig,
    /// How the server logs.
    pub log: LogConfig,
    /// Operators' queues: routing fallbacks, waits, wrap-up.
    pub queues: QueuesConfig,
    /// Case work: the dispositions operators choose from.
    pub cases: CasesConfig,
    /// What a blocked caller hears.
    pub blocklist: BlocklistConfig,
    /// The follow-up list: how many attempts to reach a caller.
    pub followups: FollowupsConfig,
    /// How long personal data is kept, and how often the purge runs.
    pub retention: RetentionConfig,
    /// Who may read the operations metrics.
    pub metrics: MetricsConfig,
    /// The web console's sessions and logins.
    pub console: ConsoleConfig,
    /// The operator line: when PIN guessing locks an ID or a calling number.
    pub operators: OperatorsConfig,
    /// Text conversations: free text, inactivity, how many an operator holds.
    pub chats: ChatsConfig,
    /// The Telegram bot: whether it is on, and where its Bot API is.
    pub telegram: TelegramConfig,
    /// Text channels' outgoing messages: pacing and retries.
    pub outbox: OutboxConfig,
    /// SMS and WhatsApp through Twilio Messaging.
    pub sms: SmsConfig,
    /// The telephony provider's account and REST API.
    pub provider: ProviderConfig,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    #[serde(with = "listen_address")]
    pub listen: SocketAddr,
    /// The URL the provider uses to reach this server (`https://hotline.example.org`), without
    /// a path. Signatures are computed over it, so behind a proxy it must be the public one.
    /// Empty: `http://` + the listening address.
    pub public_url: String,
    /// Production mode: missing secrets and disabled signature checks are startup errors.
    pub production: bool,
    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
    pub shutdown_grace_secs: u64,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: u64,
    /// Milliseconds a client has to send a request's headers before its connection is
    /// closed: a client sending a byte at a time cannot hold a connection for long.
    pub header_read_timeout_ms: u64,
    /// Largest request line and headers, in bytes; larger requests get `431`.
    pub max_header_bytes: u64,
    /// Milliseconds a connection (one request: headers, body, answer) may last.
    pub request_timeout_ms: u64,
    /// Refused requests (forged webhook signatures, wrong API tokens) an address may make per
    /// minute; beyond, it gets `429` without any work until its allowance refills.
    pub refusals_per_minute: u64,
    /// The address of a reverse proxy in front of the server, whose `X-Forwarded-For` names
    /// the real client for the per-address limit. Empty: no proxy is trusted.
    #[serde(with = "optional_address")]
    pub trusted_proxy: Option<IpAddr>,
    /// Connections one address (an IPv6 /64) may have open at once, so one machine cannot
    /// take every slot of `max_connections`. The trusted proxy is not capped.
    pub max_connections_per_address: u64,
    /// Threads that answer HTTP requests. The database has threads of its own, and one
    /// thread answers more webhooks than the database's one writer can commit, so more
    /// only spend CPU waking each other.
    pub worker_threads: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: String::new(),
            production: false,
            shutdown_grace_secs: 10,
            max_connections: 512,
            header_read_timeout_ms: 5000,
            max_header_bytes: 16 * 1024,
            request_timeout_ms: 30_000,
            refusals_per_minute: 20,
            trusted_proxy: None,
            max_connections_per_address: 64,
            worker_threads: 1,
        }
    }
}

/// `[webhooks]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Which provider calls the webhooks, and so how their signatures are checked.
    pub provider: Provider,
    /// Check the provider's signature on every request. Only off for local experiments.
    pub verify_signatures: bool,
    /// Telnyx's public key (base64, from its portal), which checks its signatures; only with
    /// `provider = "telnyx"`. Public, so kept here rather than with the secrets.
    pub telnyx_public_key: String,
    /// Milliseconds after which a webhook answers from memory whatever is still pending, well
    /// under the provider's 15 s limit.
    pub deadline_ms: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Calls one caller (by number) may have in progress at once; more are answered with
    /// `over_limit_answer` so that one number cannot fill the queues.
    pub calls_per_caller: u64,
    /// What a call over its caller's limit gets.
    pub over_limit_answer: OverLimitAnswer,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            provider: Provider::default(),
            verify_signatures: true,
            telnyx_public_key: String::new(),
            deadline_ms: 5000,
            max_body_bytes: 64 * 1024,
            calls_per_caller: 2,
            over_limit_answer: OverLimitAnswer::default(),
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// The SQLite file, created on first start. Development secrets are kept beside it.
    pub path: PathBuf,
    /// A PostgreSQL database to keep the cases in instead of the SQLite file
    /// (`postgres://user:password@host/hotline`); empty: the SQLite file at `path`. The
    /// journal, the data keys and development secrets stay in `path`'s folder either way.
    /// It can hold a password: it is never logged or shown. Its `sslmode` and `sslrootcert`
    /// ask for TLS (`storage/postgres/tls.rs`).
    pub url: String,
    /// Milliseconds a write waits for a lock held by another connection.
    pub busy_timeout_ms: u64,
    /// Milliseconds a webhook waits for its write before journaling it instead.
    pub write_deadline_ms: u64,
    /// The journal file; empty: beside the database (`<path>.journal`). Another file system
    /// keeps the journal writable when the database's disk fills up.
    pub journal_path: PathBuf,
    /// Mebibytes the journal owns on disk from the start, so that a full disk cannot refuse
    /// a record (see `docs/resilience.md` for how many calls that holds).
    pub journal_reserve_mb: u64,
    /// Milliseconds the server on duty holds the duties' lease (`app/duty.rs`) before it must
    /// renew it: how long the others wait for a server that vanished before one of them
    /// takes the duties over.
    pub duty_lease_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            path: PathBuf::from("data/hotline.db"),
            url: String::new(),
            busy_timeout_ms: 1000,
            write_deadline_ms: 1500,
            journal_path: PathBuf::new(),
            journal_reserve_mb: 64,
            duty_lease_ms: 15_000,
        }
    }
}

impl DatabaseConfig {
    /// The PostgreSQL database's URL, when the cases are kept there.
    pub fn postgres_url(&self) -> Option<&str> {
        Some(self.url.trim()).filter(|url| !url.is_empty())
    }

    /// The journal's reserve in bytes.
    pub fn journal_reserve_bytes(&self) -> u64 {
        self.journal_reserve_mb.saturating_mul(1 << 20)
    }

    /// The folder of the database, where the journal (by default) and development secrets
    /// live.
    pub fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        }
    }

    /// The journal that keeps records while the database cannot take them:
    /// `journal_path`, or `<path>.journal` beside the database.
    pub fn journal_path(&self) -> PathBuf {
        if !self.journal_path.as_os_str().is_empty() {
            return self.journal_path.clone();
        }
        let mut name = self.path.file_name().map(|n| n.to_owned()).unwrap_or_default();
        name.push(".journal");
        self.dir().join(name)
    }
}

/// `[scripts]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptsConfig {
    /// The folder of `languages.xml`, one `<code>.xml` per language, and `audio/`.
    pub dir: PathBuf,
    /// How often the folder and the database are looked at for a new version, in
    /// milliseconds; 0 turns the watching off (a restart then picks changes up).
    pub watch_interval_ms: u64,
}

impl Default for ScriptsConfig {
    fn default() -> Self {
        ScriptsConfig { dir: PathBuf::from("ivr-scripts"), watch_interval_ms: 1000 }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, `hotline=debug,tower_http=info`. `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Text, level: "info".into() }
    }
}

/// `[queues]`: how callers are routed to operators and how long they wait (see
/// [`crate::domain::queue`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueuesConfig {
    /// Where callers go when no operator of their language is on duty:
    /// `"ko=ru, uk=voicemail"` (Korean callers to Russian-speaking operators with an
    /// interpreter flag; Ukrainian callers straight to the voicemail node). Languages without
    /// a rule wait in their own language's queue.
    pub fallbacks: Fallbacks,
    /// Seconds a caller waits at most; then they are told and taken to the handoff's
    /// `otherwise` node (voicemail).
    pub max_wait_secs: u64,
    /// Minutes of history behind the wait estimate (mean wait of callers answered then).
    pub estimate_window_mins: u64,
    /// Seconds an operator stays in wrap-up after a call before reading as available.
    pub wrap_up_secs: u64,
    /// Milliseconds a webhook waits for queue bookkeeping in the database before it
    /// degrades (shared per-language queue, provider's position) so the caller is never held.
    pub db_timeout_ms: u64,
    /// Seconds a conversation with an operator can last: the provider's own limit on a
    /// dialled call (its default `timeLimit`, 4 hours). During it the caller's call sends no
    /// webhook, so the recovery of lost calls waits this long, and the longest queue wait,
    /// before it closes a silent case (see `app/recovery.rs`).
    pub max_conversation_secs: u64,
    /// The service level's threshold: the share of callers an operator answers within this
    /// many seconds of joining the queue is the wall board's first figure (see
    /// `docs/wallboard.md`).
    pub service_level_secs: u64,
}

impl Default for QueuesConfig {
    fn default() -> Self {
        QueuesConfig {
            fallbacks: Fallbacks::default(),
            max_wait_secs: 900,
            estimate_window_mins: 60,
            wrap_up_secs: 30,
            db_timeout_ms: 800,
            max_conversation_secs: 14_400,
            service_level_secs: 20,
        }
    }
}

/// `[chats]`: conversations on text channels (Telegram; see `docs/scripts.md` for how a
/// script reads in a chat).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatsConfig {
    /// Messages of free text written at menus (not a choice) before an operator takes over:
    /// someone who keeps writing instead of choosing wants a person.
    pub free_text_handoff: u32,
    /// Conversations one operator holds at once (a call is one at a time; chats are answered
    /// between other messages).
    pub per_operator: u32,
    /// Minutes of silence from the person before one reminder.
    pub remind_after_mins: u64,
    /// Minutes of silence after the reminder before the conversation closes; a later message
    /// starts a new case, linked to this one as a repeat contact.
    pub close_after_mins: u64,
    /// Milliseconds between two rounds of upkeep: reminders, closings, places in line.
    pub upkeep_interval_ms: u64,
}

impl Default for ChatsConfig {
    fn default() -> Self {
        ChatsConfig {
            free_text_handoff: 3,
            per_operator: 3,
            remind_after_mins: 30,
            close_after_mins: 30,
            upkeep_interval_ms: 10_000,
        }
    }
}

/// `[cases]`: case work by operators (see [`crate::domain::casework`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CasesConfig {
    /// The dispositions operators choose from when they close a case, comma-separated names
    /// of lowercase letters, digits and `-` (a string, so one environment variable sets it).
    pub dispositions: Dispositions,
}

impl Default for CasesConfig {
    fn default() -> Self {
        CasesConfig {
            dispositions: "surrender-arranged, information-given, relative-informed, referred, \
                           prank, hostile, dropped, wrong-number"
                .parse()
                .expect("the default dispositions are valid"),
        }
    }
}

impl CasesConfig {
    /// The dispositions, in the configured order.
    pub fn dispositions(&self) -> &[Disposition] {
        self.dispositions.as_slice()
    }
}

/// `[blocklist]`: what happens to a call from a blocked caller.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlocklistConfig {
    /// `message`: a polite goodbye and hang-up; `flag`: normal handling, the case flagged.
    pub answer: BlockAnswer,
}

/// `[followups]`: the follow-up list (see [`crate::domain::followups`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FollowupsConfig {
    /// Attempts to reach a caller (no answer, tried) after which a follow-up closes.
    pub max_attempts: u32,
    /// Minutes after an attempt that did not reach the caller before the operator line
    /// offers that callback again.
    pub retry_after_mins: u32,
}

impl Default for FollowupsConfig {
    fn default() -> Self {
        FollowupsConfig { max_attempts: 3, retry_after_mins: 15 }
    }
}

/// What a blocked caller gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockAnswer {
    /// Answered as any call; told goodbye where it would reach a person.
    #[default]
    Message,
    /// The call is handled like any other; its case records that the caller is blocked.
    Flag,
}

/// `[retention]`: when personal data is shredded (see `app/retention.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days a voicemail's recording URL is kept after the call.
    pub recordings_days: u64,
    /// Days operators' notes are kept after the call.
    pub notes_days: u64,
    /// Days a case keeps its caller's hash (repeat-caller links); also how long an expired
    /// blocklist entry is kept.
    pub caller_hashes_days: u64,
    /// Minutes between two purges run by the server; 0: only `hotline purge` purges.
    pub purge_every_mins: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            recordings_days: 90,
            notes_days: 365,
            caller_hashes_days: 365,
            purge_every_mins: 60,
        }
    }
}

/// `[metrics]`: access to `GET /metrics` (see `app/metrics.rs`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// The SHA-256 (64 hex digits) of the bearer token a scraper sends; empty: `/metrics`
    /// is off. A hash, not the token, so this file holds no secret.
    pub token_sha256: String,
}

/// `[console]`: the web console's sessions and logins (see `http/console/`), and the line's
/// time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Minutes without a request after which a session ends.
    pub idle_timeout_mins: u64,
    /// Hours after which a session ends however busy it is: one shift.
    pub session_hours: u64,
    /// Failed logins allowed per name and per address in 15 minutes before more are refused.
    pub login_failures: u64,
    /// The line's time zone, an IANA name (`Europe/Kyiv`): the console, the wall board's days
    /// and hours and the command line show its local time. The database and the JSON API
    /// keep UTC.
    pub time_zone: LineZone,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            idle_timeout_mins: 30,
            session_hours: 12,
            login_failures: 5,
            time_zone: LineZone::UTC,
        }
    }
}

/// `[operators]`: the operator line's lockout of PIN guessing (see
/// [`crate::domain::lockout`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorsConfig {
    /// Wrong PINs for one operator ID, or from one calling number, within
    /// `pin_window_mins` that lock it.
    pub pin_failures: u32,
    /// Minutes over which wrong PINs are counted.
    pub pin_window_mins: u32,
    /// Minutes of a first lock; each further lock in a row lasts twice as long (at most a
    /// day).
    pub pin_lock_mins: u32,
    /// The operator line's phone number (`+E164`): shown on the operator's screen, so that
    /// one who is available on the line knows what to dial, and the number call-me rings
    /// come from. Empty: not shown, and call-me mode cannot be chosen.
    pub line_number: String,
    /// Seconds a call-me operator's phone rings before it counts as not answered.
    pub ring_secs: u32,
    /// Minutes a call-me operator who did not answer (or was busy) is not rung again: their
    /// callers go to the next operator meanwhile.
    pub no_answer_pause_mins: u32,
}

impl Default for OperatorsConfig {
    fn default() -> Self {
        OperatorsConfig {
            pin_failures: 5,
            pin_window_mins: 15,
            pin_lock_mins: 15,
            line_number: String::new(),
            ring_secs: 20,
            no_answer_pause_mins: 5,
        }
    }
}

impl OperatorsConfig {
    /// The PIN policy these settings describe (validated by [`Config::load`]).
    pub fn pin_policy(&self) -> PinPolicy {
        PinPolicy {
            failures: self.pin_failures.max(1),
            window: chrono::Duration::minutes(i64::from(self.pin_window_mins)),
            lock: chrono::Duration::minutes(i64::from(self.pin_lock_mins)),
        }
    }
}

/// `[telegram]`: the Telegram bot (its token and webhook secret are secrets, in
/// `app/secrets.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Whether the bot is on: the server then needs its secrets to start.
    pub enabled: bool,
    /// The Bot API server, `scheme://host[:port]`: Telegram's own, or a local Bot API server.
    pub api_base: String,
    /// Connections Telegram may open at once to deliver updates (`setWebhook`'s
    /// `max_connections`).
    pub max_connections: u32,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            enabled: false,
            api_base: "https://api.telegram.org".into(),
            max_connections: 40,
        }
    }
}

/// `[outbox]`: how messages to people writing on a text channel are paced and retried (see
/// `app/outbox.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Milliseconds at least between two messages to one chat (Telegram allows about one a
    /// second).
    pub per_chat_interval_ms: u64,
    /// Messages at most in any one second, over all chats of a channel (Telegram allows
    /// about 30).
    pub per_second: u32,
    /// Attempts of a message the channel keeps failing (timeouts, server errors) before it is
    /// given up on; the waits between them double from 1 s up to 5 minutes.
    pub max_attempts: u32,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig { per_chat_interval_ms: 1000, per_second: 25, max_attempts: 12 }
    }
}

impl OutboxConfig {
    /// The pacing these settings describe (validated by [`Config::load`]).
    pub fn pacing(&self) -> Pacing {
        Pacing {
            per_chat: Duration::from_millis(self.per_chat_interval_ms),
            per_second: self.per_second.max(1),
        }
    }
}

/// `[sms]`: SMS and WhatsApp through Twilio Messaging (the account's auth token is the
/// voice webhooks' own secret, `HOTLINE_AUTH_TOKEN`). Empty optional keys are off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// Whether `POST /text/sms` takes messages and the outbox answers them.
    pub enabled: bool,
    /// The hotline's number messages are sent from, `+E164`; empty when a Messaging Service
    /// sends.
    pub from: String,
    /// The WhatsApp sender's number, `+E164` (sent as `whatsapp:+E164`); empty: WhatsApp is
    /// off unless a Messaging Service sends.
    pub whatsapp_from: String,
    /// A Messaging Service (`MG` and 32 hex digits) that sends instead of `from`.
    pub messaging_service_sid: String,
    /// A pre-approved, neutral WhatsApp template (`HX` and 32 hex digits) the only message
    /// that may reach a person who last wrote more than 24 hours ago; empty: none.
    pub whatsapp_template_sid: String,
}

impl SmsConfig {
    /// Whether WhatsApp messages can be answered: a WhatsApp sender or a Messaging Service.
    pub fn whatsapp_enabled(&self) -> bool {
        self.enabled && (!self.whatsapp_from.is_empty() || !self.messaging_service_sid.is_empty())
    }

    /// The problems of these settings, each saying how to fix it.
    fn problems(&self, provider: &ProviderConfig, problems: &mut Vec<String>) {
        if self.enabled && provider.account_sid.is_empty() {
            problems.push(
                "sms.enabled = true needs provider.account_sid (the Twilio account that sends)"
                    .into(),
            );
        }
        for (key, value) in [("sms.from", &self.from), ("sms.whatsapp_from", &self.whatsapp_from)] {
            if !value.is_empty() && !is_e164(value) {
                problems.push(format!(
                    "{key} must be a number in E.164 form, + and 8 to 15 digits, like \
                     \"+12025550123\" (no spaces, no whatsapp: prefix)"
                ));
            }
        }
        if !self.messaging_service_sid.is_empty() && !is_sid(&self.messaging_service_sid, "MG") {
            problems
                .push("sms.messaging_service_sid must be MG and 32 hex digits, or empty".into());
        }
        if !self.whatsapp_template_sid.is_empty() && !is_sid(&self.whatsapp_template_sid, "HX") {
            problems.push(
                "sms.whatsapp_template_sid must be a Content template's SID, HX and 32 hex \
                 digits, or empty"
                    .into(),
            );
        }
        if self.enabled && self.from.is_empty() && self.messaging_service_sid.is_empty() {
            problems.push(
                "sms.enabled = true needs sms.from (the hotline's number) or \
                 sms.messaging_service_sid to send from"
                    .into(),
            );
        }
    }
}

/// `[provider]`: the telephony provider's account, whose REST API the hotline calls (SMS and
/// WhatsApp replies, the callers' queues deleted once left, voicemails played and deleted).
/// Its credentials are the account's auth token (`HOTLINE_AUTH_TOKEN`, the key of webhook
/// signatures too), or an API key (`api_key_sid`, its secret in
/// `HOTLINE_PROVIDER_API_SECRET`); empty: no REST calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    /// The account: `AC` and 32 hex digits; empty when the hotline only answers webhooks.
    pub account_sid: String,
    /// An API key of the account (`SK` and 32 hex digits) to call the REST API with instead
    /// of the auth token; empty: the auth token.
    pub api_key_sid: String,
    /// The provider's REST API, `scheme://host[:port]`.
    pub api_base: String,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            account_sid: String::new(),
            api_key_sid: String::new(),
            api_base: "https://api.twilio.com".into(),
        }
    }
}

impl ProviderConfig {
    /// The REST API's base URL, without a trailing `/`.
    pub fn api_base(&self) -> &str {
        self.api_base.trim_end_matches('/')
    }

    /// Whether an account is configured, so REST calls can be made.
    pub fn has_account(&self) -> bool {
        !self.account_sid.is_empty()
    }

    /// Whether the REST API is called with an API key rather than the auth token.
    pub fn has_api_key(&self) -> bool {
        !self.api_key_sid.is_empty()
    }

    /// The problems of these settings, each saying how to fix it.
    fn problems(&self, problems: &mut Vec<String>) {
        if !self.account_sid.is_empty() && !is_sid(&self.account_sid, "AC") {
            problems.push(
                "provider.account_sid must be the Twilio account's SID: AC and 32 hex digits \
                 (Twilio console, Account info), or empty"
                    .into(),
            );
        }
        if !self.api_key_sid.is_empty() && !is_sid(&self.api_key_sid, "SK") {
            problems.push(
                "provider.api_key_sid must be an API key's SID: SK and 32 hex digits (Twilio \
                 console, API keys), or empty to use the auth token"
                    .into(),
            );
        }
        if !self.api_key_sid.is_empty() && self.account_sid.is_empty() {
            problems.push(
                "provider.api_key_sid needs provider.account_sid: the key is the account's, and \
                 its URLs name the account"
                    .into(),
            );
        }
        let base = &self.api_base;
        let host = base.strip_prefix("https://").or_else(|| base.strip_prefix("http://"));
        match host.map(|h| h.trim_end_matches('/')) {
            Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ']) => {}
            _ => problems.push(format!(
                "provider.api_base = {base:?} must be an http(s) URL with no path, like \
                 \"https://api.twilio.com\""
            )),
        }
    }
}

/// Whether `value` is a Twilio SID: `prefix` and 32 hex digits.
fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix)
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `number` is `+` and 8 to 15 digits, the first not 0.
pub fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

impl TelegramConfig {
    /// The Bot API's base URL, without a trailing `/`.
    pub fn api_base(&self) -> &str {
        self.api_base.trim_end_matches('/')
    }
}

/// The telephony provider whose webhooks the hotline answers: each signs its requests its own
/// way (see `src/signature/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Twilio: `X-Twilio-Signature` under the auth token.
    #[default]
    Twilio,
    /// SignalWire's compatibility API: `X-SignalWire-Signature` under the Signing Key, given
    /// as the auth token.
    SignalWire,
    /// Telnyx TeXML: Ed25519 signatures checked with `telnyx_public_key`.
    Telnyx,
}

/// What a call over its caller's limit of calls in progress gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverLimitAnswer {
    /// Answered as any call; told goodbye where it would reach a person.
    #[default]
    Message,
    /// The call is hung up on at once.
    Hangup,
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// Why the configuration cannot be used. Each message says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file or an override is not valid.
    #[error("{0}")]
    Invalid(Problems),
}

/// Every problem found, one per line.
#[derive(Debug)]
pub struct Problems(pub Vec<String>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the configuration has {} problem(s):", self.0.len())?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

/// Whether the hotline reads `var` other than as a setting: a secret (or its `_FILE`), or one
/// of [`OTHER_VARS`].
fn is_read_elsewhere(var: &str) -> bool {
    let secret = var.strip_suffix("_FILE").unwrap_or(var);
    SECRET_VARS.contains(&secret) || OTHER_VARS.contains(&var)
}

impl Config {
    /// Loads `path` (or the built-in defaults when `path` is `None`), applies the `HOTLINE_*`
    /// variables in `vars`, and validates the result.
    pub fn load(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: resolved(path), source })?;
                match toml::from_str::<toml::Table>(&text) {
                    Ok(table) => table,
                    Err(e) => {
                        let msg = format!("{}: {}", resolved(path).display(), e.message());
                        return Err(ConfigError::Invalid(Problems(vec![msg])));
                    }
                }
            }
            None => toml::Table::new(),
        };
        apply_overrides(&mut table, vars, &mut problems);
        let source =
            path.map_or("the built-in configuration".into(), |p| resolved(p).display().to_string());
        let config = deserialize(table, &source, &mut problems);
        if let Some(config) = &config {
            config.check(&mut problems);
        }
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid(Problems(problems))),
        }
    }

    /// Makes the database's and the journal's paths absolute, resolved against the folder the
    /// hotline was started in as they would be anyway: every message about them (a database
    /// that cannot be opened, a secret beside it) then names the file meant. The scripts
    /// folder is kept as written: its files' names are shown to people at the console.
    pub fn resolve_paths(&mut self) {
        self.database.path = resolved(&self.database.path);
        if !self.database.journal_path.as_os_str().is_empty() {
            self.database.journal_path = resolved(&self.database.journal_path);
        }
    }

    /// Checks the rules between keys again, after a change made in code (`--production`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        self.check(&mut problems);
        if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid(Problems(problems))) }
    }

    /// The public base URL, given the address actually bound (which differs from the configured
    /// one when listening on port 0).
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if self.server.public_url.is_empty() {
            format!("http://{bound}")
        } else {
            self.server.public_url.trim_end_matches('/').to_owned()
        }
    }

    /// The webhook deadline.
    pub fn webhook_deadline(&self) -> Duration {
        Duration::from_millis(self.webhooks.deadline_ms)
    }

    fn check(&self, problems: &mut Vec<String>) {
        let url = &self.server.public_url;
        if !url.is_empty() {
            let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
            match rest.map(|r| r.trim_end_matches('/')) {
                None => problems.push(format!(
                    "server.public_url = {url:?} must start with https:// (or http:// for local tests)"
                )),
                Some(host) if host.is_empty() || host.contains(['/', '?', '#', ' ']) => {
                    problems.push(format!(
                        "server.public_url = {url:?} must be just scheme://host[:port], with no \
                         path: serve the hotline at the root of its own host name"
                    ))
                }
                Some(_) => {}
            }
        }
        if self.server.production {
            if !self.webhooks.verify_signatures {
                problems.push(
                    "webhooks.verify_signatures = false is not allowed in production: anyone \
                     could forge calls. Set it to true"
                        .into(),
                );
            }
            if url.starts_with("http://") || url.is_empty() {
                problems.push(
                    "server.public_url must be an https:// URL in production (the provider \
                     signs the URL it calls)"
                        .into(),
                );
            }
        }
        let telnyx_key = self.webhooks.telnyx_public_key.trim();
        match self.webhooks.provider {
            Provider::Telnyx if self.webhooks.verify_signatures => {
                if let Err(why) = crate::signature::telnyx::PublicKey::from_base64(telnyx_key) {
                    problems.push(format!(
                        "webhooks.telnyx_public_key is needed with provider = \"telnyx\", and {why}: \
                         copy the account's public key (base64) from the Telnyx portal"
                    ));
                }
            }
            Provider::Twilio | Provider::SignalWire if !telnyx_key.is_empty() => {
                problems.push(
                    "webhooks.telnyx_public_key is set but webhooks.provider is not \"telnyx\": \
                     set provider = \"telnyx\", or remove the key"
                        .into(),
                );
            }
            _ => {}
        }
        let ranges: [(&str, u64, u64, u64); 17] = [
            ("retention.recordings_days", self.retention.recordings_days, 1, 36_500),
            ("retention.notes_days", self.retention.notes_days, 1, 36_500),
            ("retention.caller_hashes_days", self.retention.caller_hashes_days, 1, 36_500),
            ("retention.purge_every_mins", self.retention.purge_every_mins, 0, 10_080),
            ("queues.max_wait_secs", self.queues.max_wait_secs, 1, 86_400),
            ("queues.estimate_window_mins", self.queues.estimate_window_mins, 1, 10_080),
            ("queues.wrap_up_secs", self.queues.wrap_up_secs, 0, 3600),
            ("queues.db_timeout_ms", self.queues.db_timeout_ms, 10, 5000),
            ("queues.service_level_secs", self.queues.service_level_secs, 1, 3600),
            ("webhooks.deadline_ms", self.webhooks.deadline_ms, 100, 12_000),
            ("webhooks.max_body_bytes", self.webhooks.max_body_bytes as u64, 1024, 1 << 20),
            ("database.busy_timeout_ms", self.database.busy_timeout_ms, 0, 60_000),
            ("database.write_deadline_ms", self.database.write_deadline_ms, 10, 12_000),
            ("database.journal_reserve_mb", self.database.journal_reserve_mb, 1, 65_536),
            ("database.duty_lease_ms", self.database.duty_lease_ms, 1_500, 600_000),
            ("server.shutdown_grace_secs", self.server.shutdown_grace_secs, 0, 600),
            ("server.worker_threads", self.server.worker_threads, 1, 256),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                problems.push(format!("{key} = {value} is out of range; use {min} to {max}"));
            }
        }
        let connection_ranges = [
            ("server.max_connections", self.server.max_connections, 1, 65_536),
            ("server.header_read_timeout_ms", self.server.header_read_timeout_ms, 100, 60_000),
            ("server.max_header_bytes", self.server.max_header_bytes, 1024, 1 << 20),
            ("server.request_timeout_ms", self.server.request_timeout_ms, 1000, 600_000),
            ("server.refusals_per_minute", self.server.refusals_per_minute, 1, 100_000),
            ("webhooks.calls_per_caller", self.webhooks.calls_per_caller, 1, 1000),
            ("console.idle_timeout_mins", self.console.idle_timeout_mins, 1, 1440),
            ("console.session_hours", self.console.session_hours, 1, 24),
            ("console.login_failures", self.console.login_failures, 1, 1000),
            ("operators.pin_failures", u64::from(self.operators.pin_failures), 1, 100),
            ("operators.pin_window_mins", u64::from(self.operators.pin_window_mins), 1, 1440),
            ("operators.pin_lock_mins", u64::from(self.operators.pin_lock_mins), 1, 1440),
            ("operators.ring_secs", u64::from(self.operators.ring_secs), 5, 120),
            (
                "operators.no_answer_pause_mins",
                u64::from(self.operators.no_answer_pause_mins),
                1,
                1440,
            ),
            ("chats.free_text_handoff", u64::from(self.chats.free_text_handoff), 1, 100),
            ("chats.per_operator", u64::from(self.chats.per_operator), 1, 50),
            ("chats.remind_after_mins", self.chats.remind_after_mins, 1, 10_080),
            ("chats.close_after_mins", self.chats.close_after_mins, 1, 10_080),
            ("chats.upkeep_interval_ms", self.chats.upkeep_interval_ms, 100, 600_000),
            ("outbox.per_chat_interval_ms", self.outbox.per_chat_interval_ms, 10, 60_000),
            ("outbox.per_second", u64::from(self.outbox.per_second), 1, 1000),
            ("outbox.max_attempts", u64::from(self.outbox.max_attempts), 1, 100),
        ];
        for (key, value, min, max) in connection_ranges {
            if !(min..=max).contains(&value) {
                problems.push(format!("{key} = {value} is out of range; use {min} to {max}"));
            }
        }
        if !(1..=65_536).contains(&self.server.max_connections_per_address) {
            problems.push(format!(
                "server.max_connections_per_address = {} is out of range; use 1 to 65536",
                self.server.max_connections_per_address
            ));
        }
        if self.queues.max_conversation_secs > 86_400 {
            problems.push(format!(
                "queues.max_conversation_secs = {} is out of range; use 0 to 86400",
                self.queues.max_conversation_secs
            ));
        }
        if self.server.request_timeout_ms <= self.webhooks.deadline_ms {
            problems.push(format!(
                "server.request_timeout_ms ({}) must be above webhooks.deadline_ms ({}), or a \
                 slow webhook would be cut off instead of answering from memory",
                self.server.request_timeout_ms, self.webhooks.deadline_ms
            ));
        }
        let watch = self.scripts.watch_interval_ms;
        if watch != 0 && !(50..=3_600_000).contains(&watch) {
            problems.push(format!(
                "scripts.watch_interval_ms = {watch} is out of range; use 0 (off) or 50 to 3600000"
            ));
        }
        // The journal zeroes what it replays: pointed at the database or one of SQLite's own
        // files beside it, it would destroy them.
        let journal = self.database.journal_path();
        let sqlite_files = ["", "-wal", "-shm", "-journal"].map(|suffix| {
            let mut name = self.database.path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        });
        if sqlite_files.contains(&journal) {
            problems.push(format!(
                "database.journal_path ({}) is the database or one of SQLite's files; give the \
                 journal a file of its own",
                resolved(&journal).display()
            ));
        }
        if self.database.write_deadline_ms >= self.webhooks.deadline_ms {
            problems.push(format!(
                "database.write_deadline_ms ({}) must be below webhooks.deadline_ms ({}), so a \
                 slow database is journaled before the webhook runs out of time",
                self.database.write_deadline_ms, self.webhooks.deadline_ms
            ));
        }
        if self.queues.db_timeout_ms >= self.webhooks.deadline_ms {
            problems.push(format!(
                "queues.db_timeout_ms ({}) must be below webhooks.deadline_ms ({}), so a slow \
                 database degrades the queue before the webhook runs out of time",
                self.queues.db_timeout_ms, self.webhooks.deadline_ms
            ));
        }
        if !(1..=20).contains(&self.followups.max_attempts) {
            problems.push(format!(
                "followups.max_attempts = {} is out of range; use 1 to 20",
                self.followups.max_attempts
            ));
        }
        if !(1..=1440).contains(&self.followups.retry_after_mins) {
            problems.push(format!(
                "followups.retry_after_mins = {} is out of range; use 1 to 1440",
                self.followups.retry_after_mins
            ));
        }
        if let Some(url) = self.database.postgres_url() {
            // The URL is never repeated: it can hold a password.
            let scheme = url.starts_with("postgres://") || url.starts_with("postgresql://");
            // Hosts, options and a password fit well within this; more is a paste gone wrong.
            let sized = url.len() <= 4096;
            let checked = if scheme && sized {
                check_url(url)
            } else {
                Err(UrlError::Malformed(String::new()))
            };
            match checked {
                Ok(()) => {}
                Err(UrlError::Tls(reason)) => problems.push(format!("database.url: {reason}")),
                Err(UrlError::Malformed(_)) => problems.push(
                    "database.url is not a PostgreSQL URL; write it as \
                     postgres://USER:PASSWORD@HOST:PORT/DATABASE, or leave it empty for SQLite"
                        .into(),
                ),
            }
        }
        if self.database.path.as_os_str().is_empty() {
            problems.push("database.path is empty; name a file, like \"data/hotline.db\"".into());
        } else if self.database.path.is_dir() {
            problems.push(format!(
                "database.path = {:?} is a folder ({}); name a file, like \"data/hotline.db\"",
                self.database.path,
                resolved(&self.database.path).display()
            ));
        }
        if self.log.level.trim().is_empty()
            || tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err()
        {
            problems.push(format!(
                "log.level = {:?} is not a log filter; use error, warn, info, debug or trace",
                self.log.level
            ));
        }
        let telegram = &self.telegram;
        if !(1..=100).contains(&telegram.max_connections) {
            problems.push(format!(
                "telegram.max_connections = {} is out of range; use 1 to 100 (Telegram's bounds)",
                telegram.max_connections
            ));
        }
        let base = &telegram.api_base;
        let host = base.strip_prefix("https://").or_else(|| base.strip_prefix("http://"));
        match host.map(|h| h.trim_end_matches('/')) {
            Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ']) => {}
            _ => problems.push(format!(
                "telegram.api_base = {base:?} must be an http(s) URL with no path, like \
                 \"https://api.telegram.org\" (or a local Bot API server's, \
                 \"http://127.0.0.1:8081\")"
            )),
        }
        self.sms.problems(&self.provider, problems);
        self.provider.problems(problems);
        let line = &self.operators.line_number;
        if !line.is_empty() && CallbackNumber::from_caller_id(line).is_none() {
            problems.push(format!(
                "operators.line_number = {:?} must be the operator line's number in E.164 form \
                 (+ and 7 to 15 digits, like \"+18005550100\"), or empty",
                line.chars().take(40).collect::<String>()
            ));
        }
        let hash = &self.metrics.token_sha256;
        if !hash.is_empty() && (hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit())) {
            problems.push(
                "metrics.token_sha256 must be 64 hex digits: the SHA-256 of the scraper's token \
                 (`printf %s \"$TOKEN\" | sha256sum`), or empty to turn /metrics off"
                    .into(),
            );
        }
    }
}

/// Deserializes section by section, so each problem names its section (serde's own messages
/// do not say where in a table they are).
fn deserialize(table: toml::Table, source: &str, problems: &mut Vec<String>) -> Option<Config> {
    fn section<T: serde::de::DeserializeOwned + Default>(
        table: &toml::Table,
        name: &str,
        source: &str,
        problems: &mut Vec<String>,
    ) -> T {
        let Some(value) = table.get(name) else { return T::default() };
        T::deserialize(value.clone()).unwrap_or_else(|e| {
            problems.push(format!("{source}, [{name}]: {}", e.message()));
            T::default()
        })
    }
    const SECTIONS: [&str; 18] = [
        "server",
        "webhooks",
        "database",
        "scripts",
        "log",
        "queues",
        "cases",
        "blocklist",
        "followups",
        "retention",
        "metrics",
        "console",
        "operators",
        "chats",
        "telegram",
        "outbox",
        "sms",
        "provider",
    ];
    let before = problems.len();
    for name in table.keys().filter(|name| !SECTIONS.contains(&name.as_str())) {
        problems.push(format!(
            "{source}: unknown section or key `{name}`; the sections are [{}]",
            SECTIONS.join("], [")
        ));
    }
    let config = Config {
        server: section(&table, "server", source, problems),
        webhooks: section(&table, "webhooks", source, problems),
        database: section(&table, "database", source, problems),
        scripts: section(&table, "scripts", source, problems),
        log: section(&table, "log", source, problems),
        queues: section(&table, "queues", source, problems),
        cases: section(&table, "cases", source, problems),
        blocklist: section(&table, "blocklist", source, problems),
        followups: section(&table, "followups", source, problems),
        retention: section(&table, "retention", source, problems),
        metrics: section(&table, "metrics", source, problems),
        console: section(&table, "console", source, problems),
        operators: section(&table, "operators", source, problems),
        chats: section(&table, "chats", source, problems),
        telegram: section(&table, "telegram", source, problems),
        outbox: section(&table, "outbox", source, problems),
        sms: section(&table, "sms", source, problems),
        provider: section(&table, "provider", source, problems),
    };
    (problems.len() == before).then_some(config)
}

/// Applies `HOTLINE_SECTION_KEY=value` variables to the table, typed like the default value
/// of that key.
fn apply_overrides(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<String>,
) {
    let defaults = match toml::Table::try_from(Config::default()) {
        Ok(defaults) => defaults,
        Err(_) => return,
    };
    let mut names = Vec::new();
    for (section, keys) in &defaults {
        let Some(keys) = keys.as_table() else { continue };
        for (key, default) in keys {
            let var = format!("HOTLINE_{section}_{key}").to_uppercase();
            names.push((var, section.clone(), key.clone(), default.clone()));
        }
    }
    for (var, value) in vars {
        // `hotline_server_listen` is the same typo as a misspelt name, and as silent.
        let prefixed = var.get(..PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(PREFIX));
        if !prefixed || is_read_elsewhere(&var) {
            continue;
        }
        let Some((_, section, key, default)) = names.iter().find(|(name, ..)| *name == var) else {
            problems.push(unknown_variable(&var, &names));
            continue;
        };
        let typed = match default {
            toml::Value::Boolean(_) => match value.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(toml::Value::Boolean(true)),
                "false" | "0" | "no" | "off" => Some(toml::Value::Boolean(false)),
                _ => None,
            },
            toml::Value::Integer(_) => value.trim().parse().ok().map(toml::Value::Integer),
            _ => Some(toml::Value::String(value.clone())),
        };
        let Some(typed) = typed else {
            let expected = match default {
                toml::Value::Boolean(_) => "true or false",
                _ => "a whole number",
            };
            problems.push(format!("{var} = {value:?} is not valid: expected {expected}"));
            continue;
        };
        let section =
            table.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match section.as_table_mut() {
            Some(section) => {
                section.insert(key.clone(), typed);
            }
            None => problems.push(format!("[{section}] in the configuration file must be a table")),
        }
    }
}

/// What every variable the hotline reads starts with.
const PREFIX: &str = "HOTLINE_";

/// The problem of a `HOTLINE_` variable the hotline does not read, with the closest ones it
/// does read (a setting written without its section, `HOTLINE_PUBLIC_URL`, counts as close).
/// Only the name is shown: the value may be a secret.
fn unknown_variable(var: &str, settings: &[(String, String, String, toml::Value)]) -> String {
    let typed = var.to_ascii_uppercase();
    let mut candidates: Vec<(String, usize)> = Vec::new();
    // No name the hotline reads is this long: nothing is close, and comparing would be slow.
    let comparable = typed.len() <= 128;
    for (name, _, key, _) in settings.iter().filter(|_| comparable) {
        let short = format!("{PREFIX}{}", key.to_ascii_uppercase());
        let score = edit_distance(&typed, name).min(edit_distance(&typed, &short) + 1);
        candidates.push((name.clone(), score));
    }
    for secret in SECRET_VARS.into_iter().filter(|_| comparable) {
        for name in [secret.to_owned(), format!("{secret}_FILE")] {
            let score = edit_distance(&typed, &name);
            candidates.push((name, score));
        }
    }
    for other in OTHER_VARS.into_iter().filter(|_| comparable) {
        candidates.push((other.to_owned(), edit_distance(&typed, other)));
    }
    let shown = shown_name(var);
    // Close means a few letters off, more for a long name: beyond, a guess would mislead.
    let close = 2.max(typed.len().saturating_sub(PREFIX.len()) / 3);
    let best = candidates.iter().map(|(_, score)| *score).min().unwrap_or(usize::MAX);
    if best > close {
        return format!(
            "{shown} is not a configuration variable, nor anything else the hotline reads; \
             config.toml names each setting's variable beside its key. Unset it or correct it"
        );
    }
    let closest: Vec<String> = candidates
        .into_iter()
        .filter(|(_, score)| *score == best)
        .map(|(name, _)| name)
        .take(3)
        .collect();
    format!("{shown} is not a configuration variable; did you mean {}?", closest.join(" or "))
}

/// A variable's name as a message shows it: at most 64 characters, control characters
/// replaced, since a name too can be anything.
fn shown_name(var: &str) -> String {
    let mut shown: String =
        var.chars().take(64).map(|c| if c.is_control() { '?' } else { c }).collect();
    if var.chars().count() > 64 {
        shown.push('…');
    }
    shown
}

/// The Levenshtein distance between two names: the letters to insert, delete or change to
/// turn one into the other.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, b_char) in b.iter().enumerate() {
            let change = previous[j] + usize::from(a_char != *b_char);
            current.push(change.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// `path` as the hotline resolves it: a relative path against the folder it was started in,
/// as every relative path of the configuration is. For messages and for the paths kept
/// (see [`Config::resolve_paths`]), so that a newcomer sees which file was meant.
pub fn resolved(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// `server.listen`: an address and port, written as text.
mod listen_address {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(address: &SocketAddr, out: S) -> Result<S::Ok, S::Error> {
        out.collect_str(address)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<SocketAddr, D::Error> {
        let text = String::deserialize(input)?;
        text.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "listen = {text:?} is not an address and port; write it like \"127.0.0.1:8080\" \
                 or \"0.0.0.0:8080\""
            ))
        })
    }
}

/// `server.trusted_proxy`: an IP address, or empty for none.
mod optional_address {
    use std::net::IpAddr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(address: &Option<IpAddr>, out: S) -> Result<S::Ok, S::Error> {
        out.serialize_str(&address.map(|a| a.to_string()).unwrap_or_default())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Option<IpAddr>, D::Error> {
        let text = String::deserialize(input)?;
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "trusted_proxy = {text:?} is not an IP address; write the proxy's address, like \
                 \"10.0.0.2\", or leave it empty"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn problems(result: Result<Config, ConfigError>) -> String {
        match result {
            Err(e) => e.to_string(),
            Ok(config) => panic!("accepted {config:?}"),
        }
    }

    #[test]
    fn defaults_need_no_file() {
        let config = Config::load(None, vars(&[])).unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database.path, PathBuf::from("data/hotline.db"));
        assert_eq!(config.database.journal_path(), PathBuf::from("data/hotline.db.journal"));
        assert_eq!(config.database.journal_reserve_bytes(), 64 << 20);
        let elsewhere = vars(&[("HOTLINE_DATABASE_JOURNAL_PATH", "/srv/journal/hotline.journal")]);
        let config = Config::load(None, elsewhere).unwrap();
        assert_eq!(config.database.journal_path(), PathBuf::from("/srv/journal/hotline.journal"));
        assert!(config.webhooks.verify_signatures);
    }

    #[test]
    fn the_shipped_file_is_valid_and_documents_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let config = Config::load(Some(&path), vars(&[])).unwrap();
        assert_eq!(config, Config::default(), "config.toml should show the defaults");
        let text = std::fs::read_to_string(&path).unwrap();
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        for (section, keys) in defaults {
            assert!(text.contains(&format!("[{section}]")), "[{section}] missing");
            for key in keys.as_table().unwrap().keys() {
                assert!(text.contains(&format!("\n{key} =")), "{section}.{key} missing");
                let var = format!("HOTLINE_{section}_{key}").to_uppercase();
                assert!(text.contains(&var), "{var} not documented");
            }
        }
    }

    #[test]
    fn environment_overrides_are_typed() {
        let config = Config::load(
            None,
            vars(&[
                ("HOTLINE_SERVER_LISTEN", "0.0.0.0:9000"),
                ("HOTLINE_WEBHOOKS_VERIFY_SIGNATURES", "false"),
                ("HOTLINE_DATABASE_BUSY_TIMEOUT_MS", "250"),
                ("HOTLINE_AUTH_TOKEN", "not configuration"),
                ("HOTLINE_CALLBACK_KEY", "not configuration either"),
                ("HOTLINE_CALLBACK_KEY_FILE", "/run/secrets/callback"),
                ("HOTLINE_FOLLOWUPS_MAX_ATTEMPTS", "5"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.listen, SocketAddr::from(([0, 0, 0, 0], 9000)));
        assert!(!config.webhooks.verify_signatures);
        assert_eq!(config.database.busy_timeout_ms, 250);
        assert_eq!(config.followups.max_attempts, 5);
    }

    #[test]
    fn a_database_url_is_a_postgresql_one_and_never_repeated() {
        let secret = "s3cr3t-Пароль";
        let url = |url: &str| vars(&[("HOTLINE_DATABASE_URL", url)]);
        for wrong in [
            format!("mysql://hotline:{secret}@db1/hotline"),
            format!("postgres://hotline:{secret}@db1:99999/hotline"),
            format!("{secret}\n[server]\nlisten = \"0.0.0.0:1\""),
            format!("postgres://hotline:{secret}@{}/hotline", "h".repeat(100_000)),
        ] {
            let text = problems(Config::load(None, url(&wrong)));
            assert!(text.contains("database.url is not a PostgreSQL URL"), "{text}");
            assert!(!text.contains(secret), "the URL's password is repeated: {text}");
        }
        // TLS that could be stripped, or that checks nothing, or a CA file that is not one.
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "-----BEGIN NOTHING-----\n").unwrap();
        let huge = dir.path().join("huge.pem");
        std::fs::write(&huge, vec![b'A'; (1 << 20) + 1]).unwrap();
        let base = format!("postgres://hotline:{secret}@db1/hotline");
        for (query, expected) in [
            ("sslmode=sideways", "sslmode is not one of disable, verify-full"),
            ("sslmode=prefer", "fall back to plain TCP"),
            ("sslmode=allow", "fall back to plain TCP"),
            ("sslmode=require", "needs sslrootcert=FILE"),
            ("sslmode=verify-full", "needs sslrootcert=FILE"),
            ("sslrootcert=/etc/ca.pem", "without sslmode=verify-full"),
            (
                "sslmode=verify-full&sslrootcert=/nowhere/ca.pem",
                "sslrootcert /nowhere/ca.pem: No such",
            ),
            ("sslmode=verify-full&sslrootcert=", "sslrootcert"),
        ] {
            let text = problems(Config::load(None, url(&format!("{base}?{query}"))));
            assert!(text.contains(expected), "{query}: {text}");
            assert!(!text.contains(secret), "the URL's password is repeated: {text}");
        }
        let prose = dir.path().join("prose.pem");
        std::fs::write(&prose, "trust me").unwrap();
        for (file, expected) in [
            (&not_pem, "is not a PEM file of certificates"),
            (&prose, "holds no PEM certificate"),
            (&huge, "over 1 MiB"),
        ] {
            let query = format!("sslmode=verify-full&sslrootcert={}", file.display());
            let text = problems(Config::load(None, url(&format!("{base}?{query}"))));
            assert!(text.contains(expected), "{query}: {text}");
        }

        // Empty, or blank: the SQLite file.
        for sqlite in ["", "   "] {
            let config = Config::load(None, url(sqlite)).unwrap();
            assert_eq!(config.database.postgres_url(), None);
        }
        let two_hosts =
            "postgres://hotline@db1:5432,db2:5432/hotline?target_session_attrs=read-write";
        let config = Config::load(None, url(two_hosts)).unwrap();
        assert_eq!(config.database.postgres_url(), Some(two_hosts));
    }

    #[test]
    fn typos_and_wrong_values_are_reported_together() {
        let text = problems(Config::load(
            None,
            vars(&[
                ("HOTLINE_SERVER_LISTN", "x"),
                ("HOTLINE_DATABASE_BUSY_TIMEOUT_MS", "soon"),
                ("HOTLINE_WEBHOOKS_VERIFY_SIGNATURES", "maybe"),
            ]),
        ));
        assert!(text.contains("HOTLINE_SERVER_LISTN is not a configuration variable"), "{text}");
        assert!(text.contains("HOTLINE_SERVER_LISTEN"), "{text}");
        assert!(text.contains("\"soon\" is not valid: expected a whole number"), "{text}");
        assert!(text.contains("\"maybe\" is not valid: expected true or false"), "{text}");
    }

    #[test]
    fn bad_values_say_how_to_fix_them() {
        let cases = [
            ("HOTLINE_SERVER_LISTEN", "localhost", "127.0.0.1:8080"),
            ("HOTLINE_SERVER_LISTEN", "", "address and port"),
            ("HOTLINE_SERVER_PUBLIC_URL", "hotline.example.org", "https://"),
            ("HOTLINE_SERVER_PUBLIC_URL", "https://example.org/ivr", "no path"),
            ("HOTLINE_WEBHOOKS_DEADLINE_MS", "60000", "out of range"),
            ("HOTLINE_WEBHOOKS_DEADLINE_MS", "-1", "[webhooks]: invalid value: integer `-1`"),
            ("HOTLINE_WEBHOOKS_MAX_BODY_BYTES", "99999999999", "out of range"),
            ("HOTLINE_DATABASE_PATH", "", "database.path is empty"),
            ("HOTLINE_LOG_LEVEL", "hotline=loud", "log filter"),
            ("HOTLINE_LOG_LEVEL", " ", "log filter"),
            ("HOTLINE_LOG_FORMAT", "xml", "log"),
            ("HOTLINE_DATABASE_WRITE_DEADLINE_MS", "9000", "below webhooks.deadline_ms"),
            ("HOTLINE_SERVER_TRUSTED_PROXY", "proxy.local", "not an IP address"),
            ("HOTLINE_QUEUES_FALLBACKS", "ko=ko", "to itself"),
            ("HOTLINE_QUEUES_FALLBACKS", "ko", "language=target"),
            ("HOTLINE_QUEUES_FALLBACKS", "KO=<script>", "language code"),
            ("HOTLINE_QUEUES_FALLBACKS", "ko=ru, ko=uk", "twice"),
            ("HOTLINE_QUEUES_MAX_WAIT_SECS", "0", "out of range"),
            ("HOTLINE_QUEUES_DB_TIMEOUT_MS", "5000", "below webhooks.deadline_ms"),
            ("HOTLINE_CASES_DISPOSITIONS", "prank, Hostile", "not a disposition name"),
            ("HOTLINE_CASES_DISPOSITIONS", "prank,,hostile", "not a disposition name"),
            ("HOTLINE_CASES_DISPOSITIONS", "prank, prank", "twice"),
            ("HOTLINE_BLOCKLIST_ANSWER", "silence", "blocklist"),
            ("HOTLINE_FOLLOWUPS_MAX_ATTEMPTS", "0", "out of range"),
            ("HOTLINE_FOLLOWUPS_MAX_ATTEMPTS", "21", "out of range"),
            ("HOTLINE_FOLLOWUPS_MAX_ATTEMPTS", "three", "expected a whole number"),
            ("HOTLINE_FOLLOWUPS_MAX_ATTEMPTS", "99999999999", "followups"),
            ("HOTLINE_OUTBOX_PER_CHAT_INTERVAL_MS", "0", "out of range"),
            ("HOTLINE_OUTBOX_PER_CHAT_INTERVAL_MS", "soon", "expected a whole number"),
            ("HOTLINE_OUTBOX_PER_CHAT_INTERVAL_MS", "", "expected a whole number"),
            ("HOTLINE_OUTBOX_PER_SECOND", "0", "out of range"),
            ("HOTLINE_OUTBOX_PER_SECOND", "1001", "out of range"),
            ("HOTLINE_OUTBOX_PER_SECOND", "-5", "outbox"),
            ("HOTLINE_OUTBOX_PER_SECOND", "99999999999999999999", "expected a whole number"),
            ("HOTLINE_OUTBOX_MAX_ATTEMPTS", "0", "out of range"),
            ("HOTLINE_OUTBOX_MAX_ATTEMPTS", "101", "out of range"),
            ("HOTLINE_FOLLOWUPS_RETRY_AFTER_MINS", "0", "out of range"),
            ("HOTLINE_FOLLOWUPS_RETRY_AFTER_MINS", "1441", "out of range"),
            ("HOTLINE_FOLLOWUPS_RETRY_AFTER_MINS", "", "expected a whole number"),
            ("HOTLINE_RETENTION_RECORDINGS_DAYS", "0", "out of range"),
            ("HOTLINE_RETENTION_NOTES_DAYS", "-3", "invalid value"),
            ("HOTLINE_RETENTION_CALLER_HASHES_DAYS", "99999999", "out of range"),
            ("HOTLINE_RETENTION_CALLER_HASHES_DAYS", "a year", "expected a whole number"),
            ("HOTLINE_RETENTION_PURGE_EVERY_MINS", "", "expected a whole number"),
            ("HOTLINE_RETENTION_PURGE_EVERY_MINS", "20000", "out of range"),
        ];
        for (var, value, expected) in cases {
            let text = problems(Config::load(None, vars(&[(var, value)])));
            assert!(text.contains(expected), "{var}={value:?}: {text}");
        }
        // What is parsed at load is kept typed: nothing reads the text again later.
        let typed = Config::load(
            None,
            vars(&[
                ("HOTLINE_SERVER_TRUSTED_PROXY", "10.0.0.2"),
                ("HOTLINE_QUEUES_FALLBACKS", "ko=ru"),
                ("HOTLINE_CASES_DISPOSITIONS", "prank, referred"),
            ]),
        )
        .unwrap();
        assert_eq!(typed.server.trusted_proxy, Some([10, 0, 0, 2].into()));
        assert_eq!(typed.queues.fallbacks, "ko=ru".parse().unwrap());
        assert_eq!(typed.cases.dispositions().len(), 2);
        let huge = "9".repeat(10_000);
        let text = problems(Config::load(None, vars(&[("HOTLINE_WEBHOOKS_DEADLINE_MS", &huge)])));
        assert!(text.contains("expected a whole number"), "{}", &text[..200]);
    }

    #[test]
    fn production_refuses_unsafe_settings() {
        let text = problems(Config::load(
            None,
            vars(&[
                ("HOTLINE_SERVER_PRODUCTION", "true"),
                ("HOTLINE_WEBHOOKS_VERIFY_SIGNATURES", "false"),
            ]),
        ));
        assert!(text.contains("not allowed in production"), "{text}");
        assert!(text.contains("https:// URL in production"), "{text}");
    }

    #[test]
    fn files_with_unknown_keys_or_bad_syntax_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        for (text, expected) in [
            ("[server]\nlisen = \"x\"\n", "unknown field `lisen`"),
            ("[server\n", "c.toml"),
            ("[database]\npath = 5\n", "[database]: invalid type: integer `5`"),
            ("auth_token = \"x\"\n", "unknown section or key `auth_token`"),
        ] {
            std::fs::write(&path, text).unwrap();
            let message = problems(Config::load(Some(&path), vars(&[])));
            assert!(message.contains(expected), "{text:?}: {message}");
        }
        let missing = dir.path().join("missing.toml");
        assert!(problems(Config::load(Some(&missing), vars(&[]))).contains("cannot read"));
    }

    #[test]
    fn the_time_zone_is_an_iana_name() {
        let kyiv =
            Config::load(None, vars(&[("HOTLINE_CONSOLE_TIME_ZONE", "Europe/Kyiv")])).unwrap();
        assert_eq!(kyiv.console.time_zone.name(), "Europe/Kyiv");
        assert_eq!(Config::default().console.time_zone, LineZone::UTC);
        let huge = "Europe/".repeat(50_000);
        for wrong in ["", "Kyiv", "Europe/Kyiv ", "EEST", "+02:00", "<script>", huge.as_str()] {
            let message =
                problems(Config::load(None, vars(&[("HOTLINE_CONSOLE_TIME_ZONE", wrong)])));
            assert!(message.contains("[console]") && message.contains("IANA"), "{message}");
            assert!(message.len() < 1000, "the whole value echoed: {} bytes", message.len());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[console]\ntime_zone = 3\n").unwrap();
        assert!(problems(Config::load(Some(&path), vars(&[]))).contains("[console]"));
    }

    #[test]
    fn the_service_level_threshold_is_bounded() {
        let config = Config::load(None, vars(&[("HOTLINE_QUEUES_SERVICE_LEVEL_SECS", "30")]));
        assert_eq!(config.unwrap().queues.service_level_secs, 30);
        assert_eq!(Config::default().queues.service_level_secs, 20);
        for wrong in ["0", "3601", &"9".repeat(30), "-1", "", "twenty"] {
            let message =
                problems(Config::load(None, vars(&[("HOTLINE_QUEUES_SERVICE_LEVEL_SECS", wrong)])));
            let named = ["SERVICE_LEVEL_SECS", "service_level_secs", "[queues]"];
            assert!(named.iter().any(|n| message.contains(n)), "{wrong:?}: {message}");
        }
    }

    #[test]
    fn the_provider_is_one_of_three_and_telnyx_needs_its_key() {
        // A real key's shape: base64 of an Ed25519 public key (the basepoint's encoding).
        let key = "WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=";
        let key = {
            use base64::Engine as _;
            let engine = base64::engine::general_purpose::STANDARD;
            let mut point = [0x66u8; 32];
            point[0] = 0x58;
            assert_eq!(engine.encode(point), key);
            key
        };
        let load = |pairs: &[(&str, &str)]| Config::load(None, vars(pairs));
        for (value, provider) in
            [("twilio", Provider::Twilio), ("signalwire", Provider::SignalWire)]
        {
            let config = load(&[("HOTLINE_WEBHOOKS_PROVIDER", value)]).unwrap();
            assert_eq!(config.webhooks.provider, provider);
        }
        let telnyx = load(&[
            ("HOTLINE_WEBHOOKS_PROVIDER", "telnyx"),
            ("HOTLINE_WEBHOOKS_TELNYX_PUBLIC_KEY", key),
        ])
        .unwrap();
        assert_eq!(telnyx.webhooks.provider, Provider::Telnyx);
        assert_eq!(Config::default().webhooks.provider, Provider::Twilio);
        let huge = "A".repeat(100_000);
        for value in ["", "Twilio", "plivo", "signal wire", "<script>", &huge] {
            let text = problems(load(&[("HOTLINE_WEBHOOKS_PROVIDER", value)]));
            assert!(text.contains("webhooks"), "{value:?}: {text}");
        }
        // 31 bytes: a key cut short in the copying.
        let short = "WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZg==";
        for bad in ["", "   ", "not base64!", "AAAA", &huge, short] {
            let text = problems(load(&[
                ("HOTLINE_WEBHOOKS_PROVIDER", "telnyx"),
                ("HOTLINE_WEBHOOKS_TELNYX_PUBLIC_KEY", bad),
            ]));
            assert!(text.contains("webhooks.telnyx_public_key is needed"), "{bad:?}: {text}");
        }
        // A key without Telnyx is a mistake worth saying.
        let text = problems(load(&[("HOTLINE_WEBHOOKS_TELNYX_PUBLIC_KEY", key)]));
        assert!(text.contains("provider is not \"telnyx\""), "{text}");
        // With checks off (local experiments) no key is needed.
        let off = load(&[
            ("HOTLINE_WEBHOOKS_PROVIDER", "telnyx"),
            ("HOTLINE_WEBHOOKS_VERIFY_SIGNATURES", "false"),
        ]);
        assert!(off.is_ok(), "{off:?}");
    }

    #[test]
    fn connection_and_flood_limits_are_bounded() {
        let huge = "9".repeat(30);
        let cases = [
            ("HOTLINE_SERVER_MAX_CONNECTIONS", "0", "out of range"),
            ("HOTLINE_SERVER_MAX_CONNECTIONS", "1000000", "out of range"),
            ("HOTLINE_SERVER_MAX_CONNECTIONS", "", "expected a whole number"),
            ("HOTLINE_SERVER_HEADER_READ_TIMEOUT_MS", "5", "out of range"),
            ("HOTLINE_SERVER_HEADER_READ_TIMEOUT_MS", "-1", "invalid value"),
            ("HOTLINE_SERVER_MAX_HEADER_BYTES", "100", "out of range"),
            ("HOTLINE_SERVER_MAX_HEADER_BYTES", &huge, "expected a whole number"),
            ("HOTLINE_SERVER_REQUEST_TIMEOUT_MS", "4000", "above webhooks.deadline_ms"),
            ("HOTLINE_SERVER_REQUEST_TIMEOUT_MS", "lots", "expected a whole number"),
            ("HOTLINE_SERVER_REFUSALS_PER_MINUTE", "0", "out of range"),
            ("HOTLINE_SERVER_TRUSTED_PROXY", "proxy.local", "not an IP address"),
            ("HOTLINE_SERVER_TRUSTED_PROXY", "10.0.0.2, 10.0.0.3", "not an IP address"),
            ("HOTLINE_WEBHOOKS_CALLS_PER_CALLER", "0", "out of range"),
            ("HOTLINE_WEBHOOKS_CALLS_PER_CALLER", &huge, "expected a whole number"),
            ("HOTLINE_WEBHOOKS_OVER_LIMIT_ANSWER", "silence", "webhooks"),
            ("HOTLINE_WEBHOOKS_OVER_LIMIT_ANSWER", "", "webhooks"),
            ("HOTLINE_DATABASE_JOURNAL_RESERVE_MB", "0", "out of range"),
            ("HOTLINE_DATABASE_JOURNAL_RESERVE_MB", "65537", "out of range"),
            ("HOTLINE_DATABASE_JOURNAL_RESERVE_MB", &huge, "expected a whole number"),
            ("HOTLINE_DATABASE_JOURNAL_RESERVE_MB", "", "expected a whole number"),
            ("HOTLINE_DATABASE_DUTY_LEASE_MS", "1499", "out of range"),
            ("HOTLINE_DATABASE_DUTY_LEASE_MS", "600001", "out of range"),
            ("HOTLINE_DATABASE_DUTY_LEASE_MS", "-1", "invalid value"),
            ("HOTLINE_DATABASE_DUTY_LEASE_MS", &huge, "expected a whole number"),
            ("HOTLINE_DATABASE_JOURNAL_PATH", "data/hotline.db", "one of SQLite's files"),
            ("HOTLINE_DATABASE_JOURNAL_PATH", "data/hotline.db-wal", "one of SQLite's files"),
        ];
        for (var, value, expected) in cases {
            let text = problems(Config::load(None, vars(&[(var, value)])));
            assert!(text.contains(expected), "{var}={value:?}: {text}");
        }
    }
}

#[cfg(test)]
mod recovery_and_cap_tests {
    use super::*;

    #[test]
    fn the_connection_cap_and_the_conversation_limit_are_bounded() {
        let huge = "9".repeat(30);
        let cases = [
            ("HOTLINE_SERVER_MAX_CONNECTIONS_PER_ADDRESS", "0", "out of range"),
            ("HOTLINE_SERVER_MAX_CONNECTIONS_PER_ADDRESS", "65537", "out of range"),
            ("HOTLINE_SERVER_MAX_CONNECTIONS_PER_ADDRESS", "", "expected a whole number"),
            ("HOTLINE_SERVER_MAX_CONNECTIONS_PER_ADDRESS", "-4", "invalid value"),
            ("HOTLINE_SERVER_MAX_CONNECTIONS_PER_ADDRESS", &huge, "expected a whole number"),
            ("HOTLINE_SERVER_WORKER_THREADS", "0", "out of range"),
            ("HOTLINE_SERVER_WORKER_THREADS", "257", "out of range"),
            ("HOTLINE_SERVER_WORKER_THREADS", "two", "expected a whole number"),
            ("HOTLINE_SERVER_WORKER_THREADS", &huge, "expected a whole number"),
            ("HOTLINE_QUEUES_MAX_CONVERSATION_SECS", "86401", "out of range"),
            ("HOTLINE_QUEUES_MAX_CONVERSATION_SECS", "4h", "expected a whole number"),
            ("HOTLINE_QUEUES_MAX_CONVERSATION_SECS", "", "expected a whole number"),
            ("HOTLINE_QUEUES_MAX_CONVERSATION_SECS", &huge, "expected a whole number"),
        ];
        for (var, value, expected) in cases {
            let vars = vec![(var.to_owned(), value.to_owned())];
            let text = match Config::load(None, vars) {
                Ok(_) => String::new(),
                Err(error) => error.to_string(),
            };
            assert!(text.contains(expected), "{var}={value:?}: {text}");
        }
        let vars = vec![
            ("HOTLINE_SERVER_MAX_CONNECTIONS_PER_ADDRESS".to_owned(), "1".to_owned()),
            ("HOTLINE_QUEUES_MAX_CONVERSATION_SECS".to_owned(), "0".to_owned()),
        ];
        let config = Config::load(None, vars).unwrap();
        assert_eq!(config.server.max_connections_per_address, 1);
        assert_eq!(config.queues.max_conversation_secs, 0);
    }
}

#[cfg(test)]
mod operator_line_tests {
    use super::*;

    fn problems_of(var: &str, value: &str) -> String {
        match Config::load(None, vec![(var.to_owned(), value.to_owned())]) {
            Ok(config) => panic!("{var}={value:?} accepted: {:?}", config.operators),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn the_pin_lockout_keys_are_bounded_and_typed() {
        let huge = "9".repeat(30);
        let cases = [
            ("HOTLINE_OPERATORS_PIN_FAILURES", "0", "operators.pin_failures = 0 is out of range"),
            ("HOTLINE_OPERATORS_PIN_FAILURES", "101", "out of range; use 1 to 100"),
            ("HOTLINE_OPERATORS_PIN_FAILURES", "", "expected a whole number"),
            ("HOTLINE_OPERATORS_PIN_FAILURES", "-5", "invalid value"),
            ("HOTLINE_OPERATORS_PIN_FAILURES", "five", "expected a whole number"),
            ("HOTLINE_OPERATORS_PIN_FAILURES", &huge, "expected a whole number"),
            ("HOTLINE_OPERATORS_PIN_FAILURES", "99999999999", "[operators]"),
            ("HOTLINE_OPERATORS_PIN_WINDOW_MINS", "0", "out of range"),
            ("HOTLINE_OPERATORS_PIN_WINDOW_MINS", "1441", "use 1 to 1440"),
            ("HOTLINE_OPERATORS_PIN_WINDOW_MINS", "15m", "expected a whole number"),
            ("HOTLINE_OPERATORS_PIN_LOCK_MINS", "0", "out of range"),
            ("HOTLINE_OPERATORS_PIN_LOCK_MINS", "100000", "out of range"),
            ("HOTLINE_OPERATORS_PIN_LOCK_MINS", "<script>", "expected a whole number"),
            ("HOTLINE_OPERATORS_PIN_LOCKS", "3", "is not a configuration variable"),
        ];
        for (var, value, expected) in cases {
            let text = problems_of(var, value);
            assert!(text.contains(expected), "{var}={value:?}: {text}");
        }
        let vars = vec![
            ("HOTLINE_OPERATORS_PIN_FAILURES".to_owned(), "1".to_owned()),
            ("HOTLINE_OPERATORS_PIN_WINDOW_MINS".to_owned(), "1440".to_owned()),
            ("HOTLINE_OPERATORS_PIN_LOCK_MINS".to_owned(), " 60 ".to_owned()),
        ];
        let config = Config::load(None, vars).unwrap();
        let expected = OperatorsConfig {
            pin_failures: 1,
            pin_window_mins: 1440,
            pin_lock_mins: 60,
            ..OperatorsConfig::default()
        };
        assert_eq!(config.operators, expected);
    }
}

#[cfg(test)]
mod telegram_tests {
    use super::*;

    fn load(list: &[(&str, &str)]) -> Result<Config, String> {
        let vars = list.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(None, vars).map_err(|e| e.to_string())
    }

    #[test]
    fn the_bot_is_off_by_default_and_its_keys_are_typed() {
        let config = load(&[]).unwrap();
        assert!(!config.telegram.enabled);
        assert_eq!(config.telegram.api_base(), "https://api.telegram.org");
        assert_eq!(config.telegram.max_connections, 40);
        let config = load(&[
            ("HOTLINE_TELEGRAM_ENABLED", "true"),
            ("HOTLINE_TELEGRAM_API_BASE", "http://127.0.0.1:8081/"),
            ("HOTLINE_TELEGRAM_MAX_CONNECTIONS", "100"),
            // Secrets, not keys: not refused as unknown variables.
            ("HOTLINE_TELEGRAM_TOKEN", "123:abc"),
            ("HOTLINE_TELEGRAM_TOKEN_FILE", "/run/secrets/bot"),
            ("HOTLINE_TELEGRAM_SECRET", "s"),
            ("HOTLINE_TELEGRAM_SECRET_FILE", "/run/secrets/hook"),
        ])
        .unwrap();
        assert!(config.telegram.enabled);
        assert_eq!(config.telegram.api_base(), "http://127.0.0.1:8081");
        assert_eq!(config.telegram.max_connections, 100);
    }

    #[test]
    fn wrong_values_say_how_to_fix_them() {
        let huge = "9".repeat(30);
        let long_url = format!("https://{}", "a".repeat(10_000));
        let cases = [
            ("HOTLINE_TELEGRAM_MAX_CONNECTIONS", "0", "out of range; use 1 to 100"),
            ("HOTLINE_TELEGRAM_MAX_CONNECTIONS", "101", "out of range; use 1 to 100"),
            ("HOTLINE_TELEGRAM_MAX_CONNECTIONS", "-1", "[telegram]"),
            ("HOTLINE_TELEGRAM_MAX_CONNECTIONS", "", "expected a whole number"),
            ("HOTLINE_TELEGRAM_MAX_CONNECTIONS", &huge, "expected a whole number"),
            ("HOTLINE_TELEGRAM_MAX_CONNECTIONS", "99999999999", "[telegram]"),
            ("HOTLINE_TELEGRAM_ENABLED", "sure", "expected true or false"),
            ("HOTLINE_TELEGRAM_API_BASE", "", "must be an http(s) URL"),
            ("HOTLINE_TELEGRAM_API_BASE", "api.telegram.org", "must be an http(s) URL"),
            ("HOTLINE_TELEGRAM_API_BASE", "ftp://api.telegram.org", "must be an http(s) URL"),
            ("HOTLINE_TELEGRAM_API_BASE", "https://", "must be an http(s) URL"),
            ("HOTLINE_TELEGRAM_API_BASE", "https://api.telegram.org/bot", "no path"),
            ("HOTLINE_TELEGRAM_API_BASE", "https://x@evil.org", "must be an http(s) URL"),
            ("HOTLINE_TELEGRAM_API_BASE", "https://a b", "must be an http(s) URL"),
            ("HOTLINE_TELEGRAM_API_BASE", "javascript:alert(1)", "must be an http(s) URL"),
            ("HOTLINE_TELEGRAM_TOKN", "x", "not a configuration variable"),
        ];
        for (var, value, expected) in cases {
            let text = load(&[(var, value)]).unwrap_err();
            assert!(text.contains(expected), "{var}={value:?}: {text}");
        }
        // A huge URL is accepted as a URL (nothing in it is wrong), not a crash.
        assert!(load(&[("HOTLINE_TELEGRAM_API_BASE", &long_url)]).is_ok());
    }
}

#[cfg(test)]
mod sms_tests {
    use super::*;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

    fn load(list: &[(&str, &str)]) -> Result<Config, String> {
        let vars = list.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(None, vars).map_err(|e| e.to_string())
    }

    #[test]
    fn sms_is_off_by_default_and_on_with_an_account_and_a_sender() {
        let config = load(&[]).unwrap();
        assert!(!config.sms.enabled && !config.sms.whatsapp_enabled());
        assert!(!config.provider.has_account());
        assert_eq!(config.provider.api_base(), "https://api.twilio.com");
        let config = load(&[
            ("HOTLINE_SMS_ENABLED", "true"),
            ("HOTLINE_PROVIDER_ACCOUNT_SID", ACCOUNT),
            ("HOTLINE_SMS_FROM", "+12025550100"),
            ("HOTLINE_PROVIDER_API_BASE", "http://127.0.0.1:9/"),
        ])
        .unwrap();
        assert!(config.sms.enabled && !config.sms.whatsapp_enabled());
        assert_eq!(config.provider.api_base(), "http://127.0.0.1:9");
        let config = load(&[
            ("HOTLINE_SMS_ENABLED", "true"),
            ("HOTLINE_PROVIDER_ACCOUNT_SID", ACCOUNT),
            ("HOTLINE_SMS_MESSAGING_SERVICE_SID", "MG0123456789abcdef0123456789abcdef"),
            ("HOTLINE_SMS_WHATSAPP_TEMPLATE_SID", "HX0123456789abcdef0123456789abcdef"),
        ])
        .unwrap();
        assert!(config.sms.whatsapp_enabled());
    }

    #[test]
    fn the_provider_is_reached_with_an_api_key_or_the_auth_token() {
        let key = "SK0123456789abcdef0123456789abcdef";
        let config = load(&[("HOTLINE_PROVIDER_ACCOUNT_SID", ACCOUNT)]).unwrap();
        assert!(config.provider.has_account() && !config.provider.has_api_key());
        let config = load(&[
            ("HOTLINE_PROVIDER_ACCOUNT_SID", ACCOUNT),
            ("HOTLINE_PROVIDER_API_KEY_SID", key),
            // The key's secret is a secret, not a configuration key.
            ("HOTLINE_PROVIDER_API_SECRET", "s3cret"),
            ("HOTLINE_PROVIDER_API_SECRET_FILE", "/run/secrets/key"),
        ])
        .unwrap();
        assert!(config.provider.has_api_key());
        let huge = format!("SK{}", "0".repeat(100_000));
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("HOTLINE_PROVIDER_API_KEY_SID", key)], "needs provider.account_sid"),
            (
                vec![
                    ("HOTLINE_PROVIDER_ACCOUNT_SID", ACCOUNT),
                    ("HOTLINE_PROVIDER_API_KEY_SID", ACCOUNT),
                ],
                "SK and 32 hex digits",
            ),
            (
                vec![
                    ("HOTLINE_PROVIDER_ACCOUNT_SID", ACCOUNT),
                    ("HOTLINE_PROVIDER_API_KEY_SID", &huge),
                ],
                "SK and 32 hex digits",
            ),
            (
                vec![
                    ("HOTLINE_PROVIDER_ACCOUNT_SID", ACCOUNT),
                    ("HOTLINE_PROVIDER_API_KEY_SID", "SK<script>alert(1)</script>"),
                ],
                "SK and 32 hex digits",
            ),
            (vec![("HOTLINE_PROVIDER_API_KEY", key)], "not a configuration variable"),
        ];
        for (vars, expected) in cases {
            let text = load(&vars).unwrap_err();
            assert!(text.contains(expected), "{vars:?}: {text}");
        }
    }

    #[test]
    fn wrong_sms_values_say_how_to_fix_them() {
        let on = [("HOTLINE_SMS_ENABLED", "true"), ("HOTLINE_SMS_FROM", "+12025550100")];
        let huge = "+".to_owned() + &"1".repeat(10_000);
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (on.to_vec(), "sms.enabled = true needs provider.account_sid"),
            (vec![("HOTLINE_PROVIDER_ACCOUNT_SID", "AC123")], "AC and 32 hex digits"),
            (
                vec![("HOTLINE_PROVIDER_ACCOUNT_SID", "CA0123456789abcdef0123456789abcdef")],
                "AC and 32 hex digits",
            ),
            (
                vec![("HOTLINE_SMS_ENABLED", "true"), ("HOTLINE_PROVIDER_ACCOUNT_SID", ACCOUNT)],
                "needs sms.from",
            ),
            (vec![("HOTLINE_SMS_FROM", "12025550100")], "sms.from must be a number in E.164"),
            (vec![("HOTLINE_SMS_FROM", "+1 202 555 0100")], "E.164"),
            (vec![("HOTLINE_SMS_FROM", &huge)], "E.164"),
            (vec![("HOTLINE_SMS_WHATSAPP_FROM", "whatsapp:+12025550100")], "no whatsapp: prefix"),
            (vec![("HOTLINE_SMS_MESSAGING_SERVICE_SID", "MG<script>")], "MG and 32 hex"),
            (vec![("HOTLINE_SMS_WHATSAPP_TEMPLATE_SID", "hello {{1}}")], "HX and 32 hex"),
            (vec![("HOTLINE_PROVIDER_API_BASE", "")], "provider.api_base"),
            (vec![("HOTLINE_PROVIDER_API_BASE", "https://api.twilio.com/2010-04-01")], "no path"),
            (vec![("HOTLINE_PROVIDER_API_BASE", "https://x@evil.org")], "provider.api_base"),
            (vec![("HOTLINE_SMS_API_BASE", "https://api.twilio.com")], "not a configuration"),
            (vec![("HOTLINE_SMS_ENABLED", "yes please")], "expected true or false"),
            (vec![("HOTLINE_SMS_FRM", "+12025550100")], "not a configuration variable"),
        ];
        for (vars, expected) in cases {
            let text = load(&vars).unwrap_err();
            assert!(text.contains(expected), "{vars:?}: {text}");
        }
    }

    #[test]
    fn e164_numbers_only() {
        for good in ["+12025550123", "+79161234567", "+447700900123"] {
            assert!(is_e164(good), "{good}");
        }
        for bad in ["", "+", "+1", "12025550123", "+012025550123", "+1202555012345678", "+1202-555"]
        {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}

#[cfg(test)]
mod variables_tests {
    use super::*;

    fn load(list: &[(&str, &str)]) -> Result<Config, String> {
        let vars = list.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(None, vars).map_err(|e| e.to_string())
    }

    #[test]
    fn edit_distance_counts_letters_inserted_deleted_or_changed() {
        for (a, b, distance) in [
            ("", "", 0),
            ("", "abc", 3),
            ("PUBLC", "PUBLIC", 1),
            ("LISTEN", "LISTNE", 2),
            ("kitten", "sitting", 3),
            ("ключ", "клюк", 1),
        ] {
            assert_eq!(edit_distance(a, b), distance, "{a} / {b}");
            assert_eq!(edit_distance(b, a), distance, "{b} / {a}");
        }
    }

    #[test]
    fn a_misspelt_variable_names_the_closest_ones_and_never_its_value() {
        let value = "s3cret-value-<script>";
        let cases = [
            ("HOTLINE_PUBLC_URL", "did you mean HOTLINE_SERVER_PUBLIC_URL?"),
            ("HOTLINE_PUBLIC_URL", "did you mean HOTLINE_SERVER_PUBLIC_URL?"),
            ("HOTLINE_SERVER_LISTN", "did you mean HOTLINE_SERVER_LISTEN?"),
            ("hotline_server_listen", "did you mean HOTLINE_SERVER_LISTEN?"),
            ("Hotline_Database_Path", "did you mean HOTLINE_DATABASE_PATH?"),
            ("HOTLINE_AUTH_TOKN", "did you mean HOTLINE_AUTH_TOKEN?"),
            ("HOTLINE_CALLBACK_KEY_FIEL", "did you mean HOTLINE_CALLBACK_KEY_FILE?"),
            ("HOTLINE_CONFG", "did you mean HOTLINE_CONFIG?"),
            ("HOTLINE_OPERATOR_PN", "did you mean HOTLINE_OPERATOR_PIN?"),
            ("HOTLINE_OPERATORS_PIN_LOCKS", "did you mean HOTLINE_OPERATORS_PIN_LOCK_MINS?"),
        ];
        for (var, expected) in cases {
            let text = load(&[(var, value)]).unwrap_err();
            assert!(text.contains(&format!("{var} is not a configuration variable")), "{text}");
            assert!(text.contains(expected), "{var}: {text}");
            assert!(!text.contains("s3cret"), "the value shown: {text}");
        }
        // A key found in two sections: both are named.
        let text = load(&[("HOTLINE_ENABLED", "true")]).unwrap_err();
        assert!(
            text.contains("HOTLINE_SMS_ENABLED") && text.contains("HOTLINE_TELEGRAM_ENABLED"),
            "{text}"
        );
        assert!(text.contains(" or "), "{text}");
    }

    #[test]
    fn a_name_close_to_nothing_gets_no_guess_and_is_shown_harmlessly() {
        let huge = format!("HOTLINE_{}", "X".repeat(100_000));
        for var in ["HOTLINE_", "HOTLINE_ZZZZZZZZZZZZ", "HOTLINE_X\n<script>alert(1)", &huge] {
            let started = std::time::Instant::now();
            let text = load(&[(var, "value")]).unwrap_err();
            assert!(started.elapsed() < std::time::Duration::from_secs(2), "slow for {var:.40}");
            assert!(text.contains("is not a configuration variable"), "{text:.300}");
            assert!(!text.contains("did you mean"), "a wild guess: {text:.300}");
            assert!(text.contains("config.toml names each setting's variable"), "{text:.300}");
            assert!(text.len() < 600, "{} bytes", text.len());
            assert!(!text.contains("\n<script>"), "a control character shown: {text}");
        }
        assert!(load(&[(&huge, "v")]).unwrap_err().contains('…'));
    }

    #[test]
    fn every_variable_the_hotline_reads_is_accepted() {
        let mut vars: Vec<(String, &str)> =
            OTHER_VARS.iter().map(|v| (v.to_string(), "x")).collect();
        for secret in SECRET_VARS {
            vars.push((secret.to_owned(), "x"));
            vars.push((format!("{secret}_FILE"), "/run/secrets/x"));
        }
        let list: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert!(load(&list).is_ok(), "{:?}", load(&list));
        // Whatever does not start with the prefix is someone else's.
        assert!(load(&[("HOTLINEX", "1"), ("MY_HOTLINE_URL", "1"), ("PATH", "/bin")]).is_ok());
    }

    /// Every `"HOTLINE_…"` written whole in the code, outside tests: the names it reads.
    fn names_in_the_code() -> Vec<(PathBuf, String)> {
        fn walk(dir: &Path, found: &mut Vec<(PathBuf, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                    continue;
                }
                if path.extension().is_none_or(|ext| ext != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("\n#[cfg(test)]").next().unwrap_or_default();
                for literal in code.split("\"HOTLINE_").skip(1) {
                    let name: String = literal
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    // The prefix alone is how names are matched, not a name.
                    if !name.is_empty() && literal[name.len()..].starts_with('"') {
                        found.push((path.clone(), format!("HOTLINE_{name}")));
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        found
    }

    #[test]
    fn every_name_the_code_reads_is_known_here() {
        let found = names_in_the_code();
        assert!(found.iter().any(|(_, name)| name == AUTH_TOKEN_VAR), "the scan finds nothing");
        let settings = load(&[]).map(|config| toml::Table::try_from(config).unwrap()).unwrap();
        let setting = |name: &str| {
            settings.iter().any(|(section, keys)| {
                keys.as_table().is_some_and(|keys| {
                    keys.keys().any(|key| format!("HOTLINE_{section}_{key}").to_uppercase() == name)
                })
            })
        };
        for (file, name) in found {
            assert!(
                setting(&name) || is_read_elsewhere(&name),
                "{} reads {name}, which config.rs does not know: add it to SECRET_VARS or \
                 OTHER_VARS",
                file.display()
            );
        }
    }

    #[test]
    fn the_shipped_file_names_every_secret_and_how_to_give_it() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let header = text.split("\n[server]").next().unwrap();
        for secret in SECRET_VARS {
            assert!(header.contains(&format!("#   {secret} ")), "{secret} not described");
        }
        for other in OTHER_VARS {
            assert!(header.contains(other), "{other} not named");
        }
        for how in ["_FILE appended", "generated", "production", "mode 0600"] {
            assert!(header.contains(how), "the header does not say {how:?}");
        }
    }

    #[test]
    fn relative_paths_are_resolved_against_the_starting_folder() {
        let here = std::env::current_dir().unwrap();
        assert_eq!(resolved(Path::new("data/hotline.db")), here.join("data/hotline.db"));
        assert_eq!(resolved(Path::new("/srv/hotline.db")), PathBuf::from("/srv/hotline.db"));
        let mut config = Config::default();
        config.resolve_paths();
        assert_eq!(config.database.path, here.join("data/hotline.db"));
        assert_eq!(config.database.journal_path(), here.join("data/hotline.db.journal"));
        assert_eq!(config.scripts.dir, PathBuf::from("ivr-scripts"), "kept as written");
        let mut config = Config::default();
        config.database.journal_path = PathBuf::from("journal/j");
        config.resolve_paths();
        assert_eq!(config.database.journal_path(), here.join("journal/j"));

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nowhere.toml");
        let text = Config::load(Some(&missing), Vec::new()).unwrap_err().to_string();
        assert!(text.contains(&missing.display().to_string()), "{text}");
        let text = load(&[("HOTLINE_DATABASE_PATH", "src")]).unwrap_err();
        assert!(text.contains(&here.join("src").display().to_string()), "{text}");
        assert!(text.contains("is a folder"), "{text}");
    }
}
