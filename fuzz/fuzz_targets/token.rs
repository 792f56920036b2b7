#![no_main]
//! Fuzz target `token`: see `jwtgate_fuzz::token` (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwtgate_fuzz::token(data));
