//! The integration tests, one binary: a real server on port 0 with a fresh database for each
//! test, driven from outside as the provider, a browser, an API client or a terminal would.
//! One binary links the crate once instead of once per file.

mod common;

mod architecture;
mod backup;
mod bench;
mod browser;
mod calls;
mod case_scope;
mod casework;
mod chats;
mod chats_resilience;
mod cli;
mod console;
mod console_admin;
mod console_chats;
mod console_operator;
mod console_scripts;
mod console_wallboard;
mod crash;
mod database_faults;
mod deploy;
mod failover;
mod first_start;
mod flood;
mod followups;
mod fuzz_corpus;
mod limits;
mod metrics;
mod migrate_db;
mod no_numbers;
mod on_postgres;
mod openapi;
mod operator_reach;
mod operators;
mod outbox;
mod people;
mod pin_lockout;
mod postgres;
mod protection;
mod provider_rest;
mod providers;
mod resilience;
mod scripts;
mod sms;
mod spoofed_caller_id;
mod telegram_api;
mod webhooks;
