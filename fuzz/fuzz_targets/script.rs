//! Fuzz target: see `hotline::fuzzing::script`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hotline::fuzzing::script(data));
