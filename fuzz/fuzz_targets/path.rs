#![no_main]
//! Fuzz target `path`: see `jwtgate_fuzz::path` (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwtgate_fuzz::path(data));
