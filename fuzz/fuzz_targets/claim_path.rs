#![no_main]
//! Fuzz target `claim_path`: see `jwtgate_fuzz::claim_path` (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwtgate_fuzz::claim_path(data));
