//! `hotline telegram …`: connecting the Telegram bot to this server and seeing what Telegram
//! has of it. The work is in `app/telegram.rs`; this file reads the arguments and prints.

use std::process::ExitCode;

use clap::Subcommand;

use crate::app::telegram::{self, WebhookInfo};
use crate::config::{Config, TELEGRAM_SECRET_VAR};

/// `hotline telegram …`.
#[derive(Debug, Subcommand)]
pub enum TelegramCommand {
    /// Register this server's webhook ({public URL}/text/telegram) with Telegram, with the
    /// webhook secret (HOTLINE_TELEGRAM_SECRET, made here if it is not set), then show what
    /// Telegram has.
    SetWebhook {
        /// The hotline's public base URL [default: the configured public URL].
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Allow an http:// URL to this machine (tests against a local fake Bot API;
        /// Telegram itself delivers only over https).
        #[arg(long)]
        insecure: bool,
    },
    /// Show the webhook Telegram has for the bot: its URL, updates waiting, the last error
    /// (exit 1 if no webhook is set).
    Status,
}

/// Runs a `hotline telegram` command.
pub fn run(config: &Config, command: TelegramCommand) -> ExitCode {
    match command {
        TelegramCommand::SetWebhook { url, insecure } => {
            let registered = match telegram::set_webhook(config, env, url.as_deref(), insecure) {
                Ok(registered) => registered,
                Err(e) => {
                    eprintln!("hotline telegram set-webhook: {e}");
                    return ExitCode::from(2);
                }
            };
            println!("webhook registered: {}", registered.url);
            print_info(&registered.info);
            if registered.info.url != registered.url {
                println!(
                    "warning: Telegram now has another URL: something else registered the bot's \
                     webhook meanwhile"
                );
            }
            if let Some(secret) = &registered.generated_secret {
                println!(
                    "\nA webhook secret was made, and is shown only now. Give it to the server \
                     (it refuses updates without it), for instance:\n\n  export \
                     {TELEGRAM_SECRET_VAR}={}\n",
                    secret.expose()
                );
            }
            if !config.telegram.enabled {
                println!(
                    "note: [telegram] enabled is false: start the server with \
                     HOTLINE_TELEGRAM_ENABLED=true for it to answer"
                );
            }
            ExitCode::SUCCESS
        }
        TelegramCommand::Status => match telegram::webhook_status(config, env) {
            Ok(info) => {
                print_info(&info);
                if info.url.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS }
            }
            Err(e) => {
                eprintln!("hotline telegram status: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What Telegram has, one fact a line.
fn print_info(info: &WebhookInfo) {
    let url = if info.url.is_empty() { "(none set)" } else { info.url.as_str() };
    println!("  url               {url}");
    println!("  pending updates   {}", info.pending_update_count);
    match (&info.last_error_message, info.last_error_date) {
        (Some(message), date) => {
            let when = date
                .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
                .map_or(String::new(), |at| {
                    format!(" (at {})", at.format("%Y-%m-%d %H:%M:%S UTC"))
                });
            // Telegram's words, shown as they are but on one line.
            let message: String = message.chars().filter(|c| !c.is_control()).take(300).collect();
            println!("  last error        {message}{when}");
        }
        (None, _) => println!("  last error        none"),
    }
}
