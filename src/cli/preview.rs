//! `hotline call --draft LANG`: a test call on the drafts, before anyone publishes them.
//!
//! The drafts (laid over the live version, as publishing would) are served by a private
//! server of their own, on a loopback port with a temporary database and a one-off auth
//! token, and the caller simulator calls it exactly as it calls the real line. Nothing of
//! the call touches the hotline's database, so a rehearsal never shows up as a case.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::app::secrets::Secrets;
use crate::app::terminal::Terminal;
use crate::config::Config;
use crate::domain::secret::Secret;
use crate::http::server::Application;
use crate::scripts::{LANGUAGES_FILE, LanguageTag, load_texts};
use crate::simulator::{self, CallOptions, Press};

/// Calls the drafts in `language`; `options` as for a call to the real line (its URL and
/// token are replaced). With scripted presses, the language's key is pressed first.
pub fn call_draft(config: &Config, language: &str, mut options: CallOptions) -> ExitCode {
    let Some(language) = LanguageTag::parse(language) else {
        let given = crate::domain::excerpt(language);
        eprintln!("hotline call --draft: {given} is not a language code, like ru");
        return ExitCode::from(2);
    };
    if !config.database.path.exists() {
        eprintln!(
            "hotline call --draft: no database at {}: start `hotline serve` once",
            config.database.path.display()
        );
        return ExitCode::from(2);
    }
    let scratch = scratch_dir();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hotline call --draft: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(rehearse(config, &language, &scratch, &mut options));
    let _ = std::fs::remove_dir_all(&scratch);
    code
}

async fn rehearse(
    config: &Config,
    language: &LanguageTag,
    scratch: &Path,
    options: &mut CallOptions,
) -> ExitCode {
    let terminal = match Terminal::open(config).await {
        Ok(terminal) => terminal,
        Err(e) => {
            eprintln!("hotline call --draft: {e}");
            return ExitCode::from(2);
        }
    };
    let (drafted, texts) = match terminal.drafted().await {
        Ok(drafted) => drafted,
        Err(e) => {
            eprintln!("hotline call --draft: {e}");
            return ExitCode::from(2);
        }
    };
    if drafted.is_empty() {
        eprintln!("hotline call --draft: there are no drafts: this would be the live version");
    }
    let loaded = match load_texts(&config.scripts.dir, &texts) {
        Ok(loaded) => loaded,
        Err(report) => {
            eprintln!("hotline call --draft: the drafts have errors:\n{report}");
            return ExitCode::from(1);
        }
    };
    let Some(key) =
        loaded.set.entry.options.iter().find(|o| &o.language == language).map(|o| o.key)
    else {
        eprintln!("hotline call --draft: the drafts offer no {language}");
        return ExitCode::from(1);
    };
    let dir = scratch.join("ivr-scripts");
    let written = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .and_then(|()| write_texts(&dir, &texts))
        .and_then(|()| link_audio(&config.scripts.dir, &dir));
    if let Err(e) = written {
        eprintln!("hotline call --draft: cannot prepare {}: {e}", scratch.display());
        return ExitCode::from(2);
    }
    let mut private = config.clone();
    private.server.listen = ([127, 0, 0, 1], 0).into();
    private.server.public_url = String::new();
    private.server.production = false;
    private.database.path = scratch.join("rehearsal.db");
    private.scripts.dir = dir;
    private.scripts.watch_interval_ms = 0;
    private.webhooks.verify_signatures = true;
    let (Ok(token), Ok(key_for_hashes), Ok(key_for_callbacks)) = (
        crate::domain::people::generate_token(),
        crate::domain::people::generate_token(),
        crate::domain::people::generate_token(),
    ) else {
        eprintln!("hotline call --draft: no randomness for a one-off token");
        return ExitCode::from(2);
    };
    let secrets = Secrets {
        auth_token: Secret::new(token.clone()),
        caller_hash_key: Secret::new(key_for_hashes),
        callback_key: Secret::new(key_for_callbacks),
        telegram: None,
        provider_api_secret: None,
    };
    let app = match Application::build(&private, secrets).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("hotline call --draft: {e}");
            return ExitCode::from(2);
        }
    };
    options.base_url = app.public_url().to_owned();
    options.auth_token = Some(token);
    if let Some(presses) = options.presses.as_mut() {
        presses.insert(0, Press::Keys(key.to_string()));
    } else {
        println!("(the drafts, in {language}: press {key} at the language menu)");
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let options = options.clone();
    let result = tokio::task::spawn_blocking(move || {
        let stdin = io::stdin();
        let mut input = stdin.lock();
        let mut out = io::stdout().lock();
        simulator::run(&options, &mut input as &mut dyn io::BufRead, &mut out).map(|_| ())
    })
    .await;
    let _ = stop.send(());
    let _ = server.await;
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("hotline call --draft: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("hotline call --draft: {e}");
            ExitCode::from(2)
        }
    }
}

fn write_texts(dir: &Path, texts: &BTreeMap<String, String>) -> io::Result<()> {
    for (file, text) in texts {
        if file == LANGUAGES_FILE || crate::scripts::file_language(file).is_some() {
            std::fs::write(dir.join(file), text)?;
        }
    }
    Ok(())
}

/// The recordings are the real folder's: linked, not copied.
fn link_audio(real: &Path, dir: &Path) -> io::Result<()> {
    let audio = real.join("audio");
    if audio.is_dir() {
        let audio = std::fs::canonicalize(audio)?;
        std::os::unix::fs::symlink(audio, dir.join("audio"))?;
    }
    Ok(())
}

/// A fresh private folder under the system's temporary folder.
fn scratch_dir() -> PathBuf {
    // Named at random, not by the time: nothing here needs the clock.
    let unique = crate::domain::people::random_hex().unwrap_or_default();
    std::env::temp_dir().join(format!("hotline-draft-{}-{unique}", std::process::id()))
}
