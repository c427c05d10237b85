//! What versioned scripts cost: the lookup every webhook makes for its call's version, a
//! swap, checking a whole set of scripts before publishing, and one look of the watcher.
//! Prints numbers; asserts nothing. `cargo bench --bench script_versions`.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline::scripts::live::{LiveScripts, Pinned};
use hotline::scripts::watch::Watcher;
use hotline::scripts::{load_dir, load_texts, read_sources};
use hotline::storage::{Storage, StorageOptions};

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
    let live = LiveScripts::new(Pinned { key: "1".into(), set: Arc::clone(&set) });
    for n in 2..10 {
        live.swap(Pinned { key: n.to_string(), set: Arc::clone(&set) });
    }
    per_op("version of a call in progress (for_key, oldest kept)", 1_000_000, || {
        black_box(live.for_key(black_box(Some("2"))));
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

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let scratch = std::env::temp_dir().join(format!("hotline-bench-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        let storage =
            Storage::open(&scratch.join("bench.db"), StorageOptions::default()).await.unwrap();
        let (pinned, _) =
            hotline::scripts::versions::reconcile(&storage, &dir).await.expect("imported");
        let live = Arc::new(LiveScripts::new(pinned));
        let mut watcher = Watcher::new(storage, live, dir.clone());
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
