//! How long the line can run on its journal while the database takes nothing.
//!
//! Runs a real server with its database held locked (every record goes to the journal),
//! places simulated calls through it, and prints what a call costs in the journal, how fast
//! the journal takes records (each one fsync'd), and how many calls the journal's reserve
//! (`database.journal_reserve_mb`, owned on disk from the start) holds, and for how long at a
//! given call rate.
//!
//! `cargo bench --bench journal_capacity` (optional: `-- CALLS CALLERS`, defaults 200 and 8).

use std::sync::Arc;
use std::time::Instant;

use hotline::app::secrets::Secrets;
use hotline::config::Config;
use hotline::domain::secret::Secret;
use hotline::http::server::Application;
use hotline::simulator::{self, CallOptions};

const TOKEN: &str = "bench-auth-token-0123456789";

/// The call rates the report converts the reserve into hours for.
const CALLS_PER_HOUR: [u64; 3] = [100, 1_000, 10_000];

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let callers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8).max(1);

    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut config = Config::default();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.database.path = dir.path().join("hotline.db");
    config.database.busy_timeout_ms = 50;
    config.scripts.dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts");
    let secrets = Secrets {
        auth_token: Secret::new(TOKEN.into()),
        caller_hash_key: Secret::new("bench-caller-hash-key-0123456789".into()),
        callback_key: Secret::new("bench-callback-key-0123456789abcdef0123".into()),
        telegram: None,
        provider_api_secret: None,
    };
    let app = Application::build(&config, secrets).await.expect("the server builds");
    let base_url = app.public_url().to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));

    // Another program holds the database for the whole run.
    let blocker = rusqlite::Connection::open(&config.database.path).expect("the database");
    blocker.execute_batch("BEGIN EXCLUSIVE").expect("the lock");

    let paths = ["1,1,1,1", "1,1,2,2,1", "2,1", "3,1,1", "1,1,2,1"];
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..callers)
        .map(|_| {
            let (base_url, next) = (base_url.clone(), Arc::clone(&next));
            tokio::task::spawn_blocking(move || {
                let mut requests = 0u64;
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= calls {
                        return requests;
                    }
                    let options = CallOptions {
                        base_url: base_url.clone(),
                        auth_token: Some(TOKEN.into()),
                        from: format!("+7916{:07}", n),
                        to: "+18005550100".into(),
                        from_country: Some("RU".into()),
                        call_sid: None,
                        presses: Some(simulator::parse_presses(paths[n % paths.len()]).unwrap()),
                        queue_waits: 1,
                        max_requests: 100,
                    };
                    let transcript =
                        simulator::run(&options, &mut std::io::empty(), &mut Vec::new())
                            .expect("the call completes");
                    // Each call also sends its status callback.
                    requests += u64::from(transcript.requests) + 1;
                }
            })
        })
        .collect();
    let mut requests = 0;
    for worker in workers {
        requests += worker.await.expect("a caller thread");
    }
    let elapsed = started.elapsed().as_secs_f64();

    let journal_path = config.database.journal_path();
    let file = std::fs::read(&journal_path).expect("the journal");
    // The records are the lines before the zeros of the unused reserve.
    let journal = &file[..file.iter().position(|&b| b == 0).unwrap_or(file.len())];
    let records = journal.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    let bytes = journal.len() as f64;
    let per_call = bytes / calls as f64;
    let reserve = config.database.journal_reserve_bytes();

    println!("journal capacity ({calls} calls, {callers} callers at once, database locked)");
    println!("  requests answered        {requests}");
    println!(
        "  records journaled        {records} ({:.1} per call)",
        records as f64 / calls as f64
    );
    println!("  journal used             {} bytes of {} owned", journal.len(), file.len());
    println!("  bytes per record         {:.0}", bytes / records.max(1) as f64);
    println!("  bytes per call           {per_call:.0}");
    println!("  records journaled / s    {:.0} (each fsync'd)", records as f64 / elapsed);
    println!("  calls / s                {:.1}", calls as f64 / elapsed);
    let mib = reserve >> 20;
    println!("  the reserve ({mib} MiB)     holds {:.0} calls", reserve as f64 / per_call);
    for rate in CALLS_PER_HOUR {
        let hours = reserve as f64 / (per_call * rate as f64);
        println!("  at {rate:>6} calls/hour    it lasts {hours:.1} hours (the alarm at half)");
    }

    blocker.execute_batch("COMMIT").expect("the lock released");
    drop(blocker);
    let _ = stop.send(());
    let _ = server.await;
}
