//! Connecting the Telegram bot, from the terminal (`hotline telegram set-webhook`, `hotline
//! telegram status`): registering the server's webhook with Telegram and reading back what
//! Telegram has.
//!
//! Like the other terminal commands these need no running server and no database; they call
//! the Bot API with the bot's token from the environment. They block (the Bot API client
//! does), which a command may.

use std::io;

use crate::app::secrets::{SecretsError, TelegramSecrets};
use crate::config::Config;
use crate::domain::secret::Secret;
use crate::telegram::client::{ApiError, BotApi};

// What Telegram says of the webhook, as the command prints it.
pub use crate::telegram::client::WebhookInfo;

/// Where the server takes Telegram's updates, under its public URL.
pub const WEBHOOK_PATH: &str = "/text/telegram";

/// The ports Telegram delivers webhooks to.
const WEBHOOK_PORTS: [u16; 4] = [443, 80, 88, 8443];

/// A webhook registered.
#[derive(Debug)]
pub struct Registered {
    /// The URL registered.
    pub url: String,
    /// The secret made for it, when `HOTLINE_TELEGRAM_SECRET` was not set: the server must
    /// be given it, and it is shown this once.
    pub generated_secret: Option<Secret>,
    /// What Telegram has now.
    pub info: WebhookInfo,
}

/// Why the bot could not be set up. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A secret is missing or malformed.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The public URL is not one Telegram would deliver to.
    #[error(
        "{url:?} cannot receive Telegram's updates: {why}. Pass the hotline's public \
         https:// address with --url, or set server.public_url (HOTLINE_SERVER_PUBLIC_URL)"
    )]
    PublicUrl {
        /// The base URL given or configured.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Telegram does not know the token.
    #[error(
        "Telegram refused the bot token (401 Unauthorized): check HOTLINE_TELEGRAM_TOKEN against \
         what @BotFather shows for the bot (/mybots, API Token); a revoked token stops working"
    )]
    WrongToken,
    /// Telegram refused the request.
    #[error("Telegram refused {method}: {description} (error {code})")]
    Refused {
        /// The Bot API method.
        method: &'static str,
        /// Telegram's `error_code`.
        code: u16,
        /// Telegram's `description`.
        description: String,
    },
    /// Flood control.
    #[error("Telegram asks to wait {secs} s (too many requests); run the command again then")]
    RetryAfter {
        /// Seconds to wait.
        secs: u64,
    },
    /// No answer from the Bot API.
    #[error(
        "cannot reach the Telegram Bot API at {base} ({reason}); check the machine's access to \
         it, or telegram.api_base"
    )]
    Unreachable {
        /// `telegram.api_base`.
        base: String,
        /// What failed (never the token).
        reason: String,
    },
    /// No randomness to make a secret with.
    #[error("cannot generate a webhook secret: {0}")]
    Random(io::Error),
}

/// Registers `{public base}/text/telegram` as the bot's webhook, with the webhook secret
/// (`HOTLINE_TELEGRAM_SECRET`, or a new one when it is not set), the updates the hotline
/// handles and `telegram.max_connections`; then reads back what Telegram has.
///
/// `public_base` defaults to the configured public URL. It must be `https://` on a port
/// Telegram delivers to, unless `insecure` allows `http://` to this machine (a test's fake
/// Bot API; Telegram itself refuses it).
pub fn set_webhook(
    config: &Config,
    env: impl Fn(&str) -> Option<String>,
    public_base: Option<&str>,
    insecure: bool,
) -> Result<Registered, SetupError> {
    let base = match public_base {
        Some(base) => base.trim().trim_end_matches('/').to_owned(),
        None => config.public_url(config.server.listen),
    };
    check_public_base(&base, insecure)?;
    let url = format!("{base}{WEBHOOK_PATH}");
    let api = bot_api(config, &env)?;
    let (secret, generated) = match TelegramSecrets::webhook_secret(&env)? {
        Some(secret) => (secret, false),
        None => (TelegramSecrets::generate_webhook_secret().map_err(SetupError::Random)?, true),
    };
    let failed = |method| move |e| setup_error(config, method, e);
    api.set_webhook(&url, secret.expose(), config.telegram.max_connections)
        .map_err(failed("setWebhook"))?;
    let info = api.webhook_info().map_err(failed("getWebhookInfo"))?;
    Ok(Registered { url, generated_secret: generated.then_some(secret), info })
}

/// What Telegram has of the bot's webhook.
pub fn webhook_status(
    config: &Config,
    env: impl Fn(&str) -> Option<String>,
) -> Result<WebhookInfo, SetupError> {
    bot_api(config, &env)?.webhook_info().map_err(|e| setup_error(config, "getWebhookInfo", e))
}

/// The Bot API client of the configured base, with the token from the environment.
fn bot_api(config: &Config, env: &impl Fn(&str) -> Option<String>) -> Result<BotApi, SetupError> {
    let token = TelegramSecrets::token(env)?;
    Ok(BotApi::new(config.telegram.api_base(), token))
}

fn setup_error(config: &Config, method: &'static str, error: ApiError) -> SetupError {
    match error {
        ApiError::Refused { code: 401, .. } => SetupError::WrongToken,
        ApiError::Refused { code, description } => {
            SetupError::Refused { method, code, description }
        }
        ApiError::RetryAfter(wait) => SetupError::RetryAfter { secs: wait.as_secs() },
        ApiError::Unreachable(reason) => {
            SetupError::Unreachable { base: config.telegram.api_base().to_owned(), reason }
        }
    }
}

/// Refuses a base URL Telegram would not deliver to, before anything is sent.
fn check_public_base(base: &str, insecure: bool) -> Result<(), SetupError> {
    let refuse = |why| Err(SetupError::PublicUrl { url: base.to_owned(), why });
    let (scheme, authority) = match base.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => return refuse("it is not a URL"),
    };
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return refuse("it must be just scheme://host[:port], with no path");
    }
    // The port follows the host; an IPv6 literal has colons of its own.
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return refuse("it names no host");
    }
    let port = match port.map(str::parse::<u16>) {
        None => None,
        Some(Ok(port)) => Some(port),
        Some(Err(_)) => return refuse("its port is not a number"),
    };
    match scheme.as_str() {
        "https" => {
            if port.is_some_and(|port| !WEBHOOK_PORTS.contains(&port)) {
                return refuse("Telegram delivers webhooks only to ports 443, 80, 88 and 8443");
            }
            Ok(())
        }
        "http" if insecure => {
            if crate::outbound::is_loopback(base) {
                Ok(())
            } else {
                refuse("--insecure allows http:// only to this machine (for tests)")
            }
        }
        "http" => refuse("Telegram delivers updates only over https://"),
        _ => refuse("it is not an https:// URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_base_telegram_delivers_to_is_registered() {
        for ok in [
            "https://hotline.example.org",
            "https://hotline.example.org:8443",
            "HTTPS://hotline.example.org:443",
            "https://[2001:db8::1]:88",
        ] {
            assert!(check_public_base(ok, false).is_ok(), "{ok}");
        }
        for ok in ["http://127.0.0.1:8080", "http://localhost:9", "http://[::1]:8080"] {
            assert!(check_public_base(ok, true).is_ok(), "{ok}");
        }
        let huge = format!("https://{}/x", "a".repeat(100_000));
        for (bad, insecure, why) in [
            ("http://127.0.0.1:8080", false, "only over https://"),
            ("http://hotline.example.org", true, "only to this machine"),
            ("https://hotline.example.org:8080", false, "ports 443, 80, 88 and 8443"),
            ("https://hotline.example.org:http", false, "not a number"),
            ("https://hotline.example.org/hotline", false, "no path"),
            ("https://user@hotline.example.org", false, "no path"),
            ("https://", false, "no path"),
            ("https://:443", false, "no host"),
            ("hotline.example.org", false, "not a URL"),
            ("", false, "not a URL"),
            ("ftp://hotline.example.org", true, "not an https:// URL"),
            ("javascript://alert(1)", false, "not an https:// URL"),
            (huge.as_str(), false, "no path"),
        ] {
            match check_public_base(bad, insecure) {
                Err(SetupError::PublicUrl { why: said, .. }) => {
                    assert!(said.contains(why), "{bad}: {said}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
