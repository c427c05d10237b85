//! Replays the fuzzers' regression corpus (`fuzz/corpus/<target>/`: seeds, and every input a
//! fuzzer once found a problem with) through the same entry points the fuzz targets use, so
//! a problem once fixed stays fixed without running the fuzzers.

use std::path::Path;

fn replay(target: &str, entry: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("corpus").join(target);
    let mut inputs = 0;
    for file in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = file.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(outcome.is_ok(), "{} fails its fuzz target", path.display());
        inputs += 1;
    }
    assert!(inputs > 0, "no corpus in {}", dir.display());
}

#[test]
fn the_script_corpus_passes() {
    replay("script", hotline::fuzzing::script);
}

#[test]
fn the_webhook_corpus_passes() {
    replay("webhook", hotline::fuzzing::webhook);
}

#[test]
fn the_signature_corpus_passes() {
    replay("signature", hotline::fuzzing::signature);
}
