#![no_main]
//! Fuzz target `key_source`: see `jwtgate_fuzz::key_source` (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwtgate_fuzz::key_source(data));
