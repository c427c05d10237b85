//! What versioned scripts cost: the lookup every webhook makes for its call's version (held,
//! or read again from the database after a restart), a swap, checking a whole set of scripts
//! before publishing, and one look of the watcher.
//! Prints numbers; asserts nothing. `cargo bench --bench script_versions`.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline::app::duty::OnDuty;
use hotline::app::scripts::live::{History, LiveScripts, Pinned};
use hotline::app::scripts::watch::Watcher;
use hotline::scripts::{load_dir, load_texts, read_sources};
use hotline::storage::{Publication, Storage, StorageOptions};

fn per_op(label: &str, runs: u32, work: impl FnMut()) {
    let mut work = work;
    let started = Instant::now();
    for _ in 0..runs {
        work();
    }
    let each = started.elapsed() / runs;
    println!("{label:<58} {:>10.2} µs", each.as_secs_f64() * 1e6);
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts");
    let set = Arc::new(load_dir(&dir).expect("the shipped scripts are valid").set);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let live = LiveScripts::new(Pinned { key: "1".into(), set: Arc::clone(&set) });
    for n in 2..10 {
        live.swap(Pinned { key: n.to_string(), set: Arc::clone(&set) });
    }
    runtime.block_on(async {
        let runs = 1_000_000;
        let started = Instant::now();
        for _ in 0..runs {
            black_box(live.for_call(black_box(Some("2")), Duration::from_secs(1)).await);
        }
        let each = started.elapsed() / runs;
        println!(
            "{:<58} {:>10.2} µs",
            "version of a call in progress (for_call, held)",
            each.as_secs_f64() * 1e6
        );
    });
    per_op("version of a new call (for_new_call)", 1_000_000, || {
        black_box(live.for_new_call(None));
    });
    let mut n = 10u32;
    per_op("swap in a new version", 100_000, || {
        n += 1;
        live.swap(Pinned { key: n.to_string(), set: Arc::clone(&set) });
    });

    let mut ignored = Vec::new();
    let texts: std::collections::BTreeMap<String, String> = read_sources(&dir, &mut ignored)
        .into_iter()
        .map(|(file, text)| (file, text.expect("readable")))
        .collect();
    per_op("check all 5 shipped files before publishing (load_texts)", 200, || {
        black_box(load_texts(&dir, &texts).is_ok());
    });

    runtime.block_on(async {
        let scratch = std::env::temp_dir().join(format!("hotline-bench-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        let storage = Storage::open(
            &scratch.join("bench.db"),
            StorageOptions::new(hotline::domain::secret::Secret::new(
                "the benchmark's callback key, 32 characters".into(),
            )),
        )
        .await
        .unwrap();
        let (pinned, _) =
            hotline::app::scripts::versions::reconcile(&storage, &dir, chrono::Utc::now())
                .await
                .expect("imported");
        // A second version, and a holder of it that has only it in memory, as after a
        // restart: the first request of a call on the first version reads it again.
        let (head, mut files) = storage.live_scripts().await.unwrap();
        files.retain(|file, _| file == "en.xml");
        for text in files.values_mut() {
            text.push_str("\n<!-- edited -->\n");
        }
        let publication = Publication {
            files,
            author: "bench".into(),
            comment: String::new(),
            actor: None,
            action: None,
            clear_drafts: false,
            head,
            at: chrono::Utc::now(),
        };
        let second = storage.publish_scripts(publication).await.unwrap()[0].id.to_string();
        let history =
            History { storage: storage.clone(), dir: dir.clone(), keep_for: Duration::ZERO };
        let runs = 50;
        let started = Instant::now();
        for _ in 0..runs {
            let now = Pinned { key: second.clone(), set: Arc::clone(&pinned.set) };
            let restarted = LiveScripts::with_history(now, history.clone());
            let read = restarted.for_call(Some(&pinned.key), Duration::from_secs(5)).await;
            assert_eq!(read.key, pinned.key);
        }
        let each: Duration = started.elapsed() / runs;
        println!(
            "{:<58} {:>10.2} µs",
            "version of a call after a restart (read again, checked)",
            each.as_secs_f64() * 1e6
        );

        let live = Arc::new(LiveScripts::new(pinned));
        let clock = hotline::app::Clock::system();
        let mut watcher = Watcher::new(storage, live, dir.clone(), clock, OnDuty::always());
        watcher.look().await.unwrap();
        let runs = 500;
        let started = Instant::now();
        for _ in 0..runs {
            watcher.look().await.unwrap();
        }
        let each: Duration = started.elapsed() / runs;
        println!(
            "{:<58} {:>10.2} µs",
            "one look of the watcher, nothing changed",
            each.as_secs_f64() * 1e6
        );
        let _ = std::fs::remove_dir_all(&scratch);
    });
}
