#![no_main]
//! Fuzz target `policy`: see `jwtgate_fuzz::policy` (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwtgate_fuzz::policy(data));
